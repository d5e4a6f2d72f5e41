"""The build's worker pool: a crashing or hanging task fails alone, the rest still finish."""

from __future__ import annotations

import os
import time

from cir.presets_db.pool import run_tasks


def work(task: str) -> str:
    if task == "crash":
        os._exit(3)
    if task == "hang":
        time.sleep(60)
    if task == "raise":
        raise ValueError("bad preset")
    return task.upper()


def test_crash_hang_and_error_fail_only_their_task():
    tasks = ["a", "crash", "b", "hang", "raise", "c"]
    outcomes = {o.task: o for o in run_tasks(work, tasks, workers=2, timeout=6.0)}
    assert set(outcomes) == set(tasks)
    assert [outcomes[t].value for t in "abc"] == ["A", "B", "C"]
    assert "crashed (exit code 3)" in outcomes["crash"].error
    assert "timed out after 6 s" in outcomes["hang"].error
    assert outcomes["raise"].error == "ValueError: bad preset"
    assert not outcomes["raise"].crashed and outcomes["hang"].crashed


def test_no_tasks_starts_nothing():
    assert list(run_tasks(work, [], workers=4, timeout=1.0)) == []
