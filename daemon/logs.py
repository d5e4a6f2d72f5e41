"""The daemon's log: a rotating file in the user log directory (and stderr when run in front)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOGGER_NAME = "cir.daemon"
_MAX_BYTES = 2 * 1024 * 1024  # rotate at 2 MB, keep 3: a few weeks of requests
_BACKUPS = 3


def setup_logging(path: Path | None, stderr: bool = False, level: int = logging.INFO):
    """Configure the daemon logger once; returns it."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if getattr(handler, "_cir", False):
            logger.removeHandler(handler)
            handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = []
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS)
        )
    if stderr:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.setFormatter(fmt)
        handler._cir = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    return logger
