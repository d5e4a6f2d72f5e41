"""The reliability suite's short form (tools/reliability/; `make reliability` runs the
full one and writes docs/RELIABILITY.md): the same code, fewer cases."""

from __future__ import annotations

import pytest

from tools.reliability import suite as reliability


@pytest.mark.slow
def test_short_reliability_suite_finds_no_problem(tmp_path):
    # The other-user checks run in tests/test_daemon_security.py.
    sections = tuple(s for s in reliability.SECTIONS if s != "other_user")
    plan = reliability.QUICK
    results = reliability.run_suite(plan, tmp_path, embedder="mfcc80", sections=sections)
    assert reliability.problems(results) == []
    fuzz = results["fuzz"]
    assert fuzz["cases"] == plan.fuzz_cases and fuzz["served_by_daemon"] >= plan.fuzz_cases
    assert len(fuzz["reply_codes"]) >= 10  # the cases reached many different checks
    for row in results["load"]:
        assert row["answered"] == row["sent"]
    kills = results["build_kills"]
    assert kills["entries_final"] + kills["failed_presets"] == kills["expected"]
    assert results["daemon_kills"]["client_told_not_running"] == plan.daemon_kills
    memory = results["memory"]
    assert all(row["alive"] for row in memory["scenarios"])
    assert memory["scenarios"][0]["guard_trips"] >= 1  # the many-frame message met the guard
    # Bounded: the ceiling, plus one request in processing and one poll's worth of buffering.
    assert memory["max_peak_mb"] < memory["ceiling_mb"] + 400
    results["other_user"] = {"skipped": "run in tests/test_daemon_security.py"}
    md = reliability.render(results, "test")
    assert "Problems found: 0" in md
