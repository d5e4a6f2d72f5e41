"""The CIR daemon: one ZeroMQ service loop serving protocol v1 with the encoder and catalogue."""
