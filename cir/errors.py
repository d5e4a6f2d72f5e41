"""The root of every exception CIR raises on purpose; the CLI turns these into one clear line."""


class CIRError(Exception):
    """A user-facing error: the message names the value, what was expected and the fix."""


class MissingDependencyError(CIRError):
    """An optional package (a `cir[...]` extra) or a system library is not installed."""


def import_optional(module: str, extra: str, system: str = ""):
    """Import `module`, or raise MissingDependencyError saying how to install it.

    `extra` is the pip extra that declares it (``pip install 'cir[extra]'``); `system` names a
    system package it needs, e.g. "libportaudio2".
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        needs = f"; it needs the system package {system}" if system else ""
        raise MissingDependencyError(
            f"{module} is not installed ({exc}): pip install 'cir[{extra}]'{needs}"
        ) from None
    except OSError as exc:  # the wheel is there, its shared library is not
        raise MissingDependencyError(
            f"{module} cannot load its library ({exc}): install {system or 'its system package'}"
        ) from None
