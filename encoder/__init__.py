"""The timbre encoder at run time: features, model, mix heads, embedders, MFCC baseline,
weights. `cir.encoder.embed` is what the daemon and the catalogue use; it imports no training."""
