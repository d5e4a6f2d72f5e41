"""The daemon's log: a rotating file in the user log directory (and stderr when run in front)."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

LOGGER_NAME = "cir.daemon"
# cir.matching.index logs here; the daemon's log file takes its records too.
MATCHING_LOGGER_NAME = "cir.matching"
# Control characters (newlines above all) that a client could put in an id or a header field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class OneLineFormatter(logging.Formatter):
    """Every record's message on one line: control characters are escaped (\\n, \\x1b ...),
    so text from a client cannot forge log lines. Tracebacks keep their lines, indented."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(_escape, super().formatMessage(record))

    def formatException(self, ei) -> str:
        # Indented, so no traceback line (which may quote client text) starts like a record.
        text = super().formatException(ei)
        return "\n".join("    " + _CONTROL.sub(_escape, line) for line in text.splitlines())


_MAX_BYTES = 2 * 1024 * 1024  # rotate at 2 MB, keep 3: a few weeks of requests
_BACKUPS = 3


def setup_logging(path: Path | None, stderr: bool = False, level: int = logging.INFO):
    """Configure the daemon logger once (and the matching core's, which writes to the same
    handlers: what it says about the catalogue belongs in the daemon's log); returns it."""
    logger = logging.getLogger(LOGGER_NAME)
    loggers = (logger, logging.getLogger(MATCHING_LOGGER_NAME))
    for each in loggers:
        each.setLevel(level)
        for handler in list(each.handlers):
            if getattr(handler, "_cir", False):
                each.removeHandler(handler)
                handler.close()
    fmt = OneLineFormatter("%(asctime)s %(levelname)s %(message)s")
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
        for each in loggers:
            each.addHandler(handler)
    for each in loggers:
        each.propagate = False
    return logger
