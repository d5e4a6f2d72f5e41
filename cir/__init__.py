"""CIR: Contrastive Instrument Retrieval — shared defaults, families, errors and the `cir` CLI."""

__version__ = "0.1.0"
