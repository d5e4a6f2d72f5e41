"""The root of every exception CIR raises on purpose; the CLI turns these into one clear line."""


class CIRError(Exception):
    """Base class: a user-facing error whose message names the value, what was expected and the fix."""
