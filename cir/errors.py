"""The root of every exception CIR raises on purpose; the CLI turns these into one clear line."""


class CIRError(Exception):
    """A user-facing error: the message names the value, what was expected and the fix."""
