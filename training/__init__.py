"""Training and evaluation of the encoder: data, mixes, losses, loops, benchmarks (never imported
by the runtime: cir.encoder, cir.daemon)."""
