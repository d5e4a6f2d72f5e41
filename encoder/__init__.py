"""The timbre encoder: features, model, training, evaluation; `encoder.embed` is what serves."""
