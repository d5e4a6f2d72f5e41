"""Matching: audio in, per family the closest catalogue entries out. Below the daemon: the
socket server, `cir match --local`, and the public API all match through `match`."""

from cir.matching.core import Matcher, match
from cir.matching.result import Hit, MatchResult, Presence, QueryInfo

__all__ = ["Hit", "MatchResult", "Matcher", "Presence", "QueryInfo", "match"]
