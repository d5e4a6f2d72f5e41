"""`cir bench engines`: catalogue builds on the local pool vs Ray, Ray's cost per task, and what
a cluster would need for a large catalogue (docs/BENCHMARKS.md).

In one run, on the same built-in presets (a fresh catalogue each): the local pool with 2
workers, Ray with 1 and with 2 workers (a local Ray instance each). Then no-op tasks through
each engine give the cost of a task round trip itself. The projection for a cluster takes the
measured cost of one preset on one Ray worker (core-seconds, in steady state) and the
driver's CPU time per preset (it alone receives results and writes the catalogue), so it says
whether a cluster of N cores is bound by its cores or by the single writer.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from cir import defaults
from cir.cli.output import echo_json, json_option, json_stdout
from cir.errors import import_optional
from cir.presets_db.constants import BUILD_TASK_TIMEOUT_S

# `tools.bench.engines`: no-op tasks timed per engine (their round trip is the engine's own cost),
# and the cluster its projection is for: this many cores, this many presets.
BENCH_ENGINES_NOOP_TASKS = 300
# Presets per engine build: at about 15 ms a preset, 96 presets end before a local pool's second
# worker has started (spawn, torch import, model load: about 2 s), which then read as a slow pool.
BENCH_ENGINES_PRESETS = 600
# Presets of the untimed build that loads the driver's imports before the timed ones.
BENCH_ENGINES_WARM_UP = 4
BENCH_PROJECTION_CORES = 100
BENCH_PROJECTION_PRESETS = 1_000_000


def noop(task: Any) -> Any:
    """A task that does nothing: its round trip is the engine's own cost."""
    return task


class _Stamped:
    """An engine that notes when each outcome arrives (for steady-state rates)."""

    def __init__(self, engine: Any):
        self.engine, self.name = engine, engine.name
        self.stamps: list[float] = []

    def run(self, func: Callable, tasks: Sequence[Any], timeout: float) -> Iterator[Any]:
        for outcome in self.engine.run(func, tasks, timeout):
            self.stamps.append(time.monotonic())
            yield outcome


def steady_rate(stamps: list[float]) -> float:
    """Outcomes per second after the first quarter (worker start-up and imports excluded)."""
    first = len(stamps) // 4
    span = stamps[-1] - stamps[first] if len(stamps) > 1 else 0.0
    return (len(stamps) - 1 - first) / span if span > 0 else 0.0


def _build(engine: Any, db: Path, presets: int, embedder: str) -> dict[str, Any]:
    """A fresh catalogue of `presets` factory presets built on `engine`; its figures."""
    from cir.presets_db.build import add_builtin
    from cir.presets_db.catalogue import Catalogue

    stamped = _Stamped(engine)
    cpu = time.process_time()
    with Catalogue.open(db) as catalogue:
        summary = add_builtin(catalogue, limit=presets, embedder=embedder, engine=stamped,
                              progress=False)  # fmt: skip
    driver_cpu = time.process_time() - cpu
    return {
        "presets": summary.rendered,
        "failed": summary.failed,
        "seconds": round(summary.seconds, 2),
        "presets_per_second": round(summary.presets_per_second, 2),
        "steady_presets_per_second": round(steady_rate(stamped.stamps), 2),
        "driver_cpu_ms_per_preset": round(1000 * driver_cpu / max(summary.rendered, 1), 2),
    }


def _task_cost(engine: Any, tasks: int) -> float:
    """Milliseconds per no-op task through `engine`, in steady state."""
    stamped = _Stamped(engine)
    for _ in stamped.run(noop, list(range(tasks)), BUILD_TASK_TIMEOUT_S):
        pass
    rate = steady_rate(stamped.stamps)
    return round(1000 / rate, 3) if rate else 0.0


def bench_engines(
    presets: int = BENCH_ENGINES_PRESETS,
    embedder: str = defaults.CATALOGUE_EMBEDDER,
    noop_tasks: int = BENCH_ENGINES_NOOP_TASKS,
    cluster_cores: int = BENCH_PROJECTION_CORES,
    target: int = BENCH_PROJECTION_PRESETS,
) -> dict[str, Any]:
    """Local pool (2 workers) vs Ray (1, 2 workers): presets/s, task cost, cluster projection."""
    from cir.presets_db.engines import LocalEngine, open_engine

    import_optional("ray", "ray")  # before minutes of the local run, not after
    runs, costs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        # Not timed: the driver's first build imports the encoder and the synth (seconds of
        # CPU the first timed run would be charged for).
        _build(LocalEngine(1), Path(tmp) / "warm-up.db", BENCH_ENGINES_WARM_UP, embedder)
        local = LocalEngine(2)
        runs.append({"engine": "local", "workers": 2, "start_s": 0.0,
                     **_build(local, Path(tmp) / "local.db", presets, embedder)})  # fmt: skip
        costs["local"] = _task_cost(LocalEngine(1), noop_tasks)
        for workers in (1, 2):
            with open_engine("ray", workers=workers) as ray:
                start = time.monotonic()
                list(ray.run(noop, [0], BUILD_TASK_TIMEOUT_S))  # start the instance
                start_s = round(time.monotonic() - start, 2)
                row = _build(ray, Path(tmp) / f"ray{workers}.db", presets, embedder)
                runs.append({"engine": "ray", "workers": workers, "start_s": start_s, **row})
                if workers == 1:
                    costs["ray"] = _task_cost(ray, noop_tasks)
    return {
        "embedder": embedder,
        "runs": runs,
        "task_ms": costs,
        "projection": project(runs, costs, cluster_cores, target),
    }


def project(
    runs: list[dict[str, Any]], costs: dict[str, float], cores: int, target: int
) -> dict[str, Any]:
    """What `cores` Ray workers would take for `target` presets, from the 1-worker Ray run.

    One preset costs 1 / (its steady presets/s) core-seconds (render, embed, encode the
    preview, Ray's round trip); the driver's CPU time per preset caps the rate a single
    writer can take whatever the cluster's size.
    """
    one = next(r for r in runs if r["engine"] == "ray" and r["workers"] == 1)
    core_s = 1 / one["steady_presets_per_second"]
    driver_rate = 1000 / max(one["driver_cpu_ms_per_preset"], 1e-6)
    cluster_rate = min(cores / core_s, driver_rate)
    return {
        "presets": target,
        "cores": cores,
        "core_seconds_per_preset": round(core_s, 4),
        "ray_task_share": round(costs.get("ray", 0.0) / 1000 / core_s, 4),
        "core_hours": round(target * core_s / 3600, 1),
        "driver_max_presets_per_second": round(driver_rate, 1),
        "cluster_presets_per_second": round(cluster_rate, 1),
        "bound_by": "cores" if cores / core_s <= driver_rate else "driver",
        "hours": round(target / cluster_rate / 3600, 2),
        "cores_for_one_hour": int(-(-target * core_s // 3600)),
        # Beyond this many cores one driver cannot take the results as fast as they come.
        "cores_to_saturate_driver": round(driver_rate * core_s, 1),
    }


@click.command()
@click.option("--presets", type=click.IntRange(8), default=None,
              help="Factory presets per build (default from cir.defaults).")
@click.option("--embedder", default="default", show_default=True,
              help="Embedder: default (the shipped encoder) or mfcc80.")
@json_option("Print the results as JSON.")
def engines_speed(presets: int | None, embedder: str, as_json: bool) -> None:
    """Catalogue builds on the local pool (2 workers) vs Ray (1 and 2 workers), Ray's cost
    per task, and what a 100-core cluster would need for 10^6 presets.

    Needs Ray (pip install 'cir[ray]'); starts a local Ray instance per Ray run.

    \b
    Example:
        python -m tools.bench.engines
        nice python -m tools.bench.engines --presets 48 --json
    """

    with json_stdout(as_json):
        result = bench_engines(presets or BENCH_ENGINES_PRESETS, embedder)
    if as_json:
        echo_json(result)
        return
    for r in result["runs"]:
        click.echo(
            f"{r['engine']:<5} {r['workers']} worker(s): {r['presets']} presets in "
            f"{r['seconds']:.1f} s = {r['presets_per_second']:.2f} presets/s (steady "
            f"{r['steady_presets_per_second']:.2f}), driver CPU "
            f"{r['driver_cpu_ms_per_preset']:.1f} ms/preset, start {r['start_s']:.1f} s"
        )
    costs = result["task_ms"]
    click.echo(f"no-op task: local pool {costs['local']:.2f} ms, Ray {costs['ray']:.2f} ms")
    p = result["projection"]
    click.echo(
        f"{p['presets']:,} presets at {p['core_seconds_per_preset']:.3f} core-s each = "
        f"{p['core_hours']:.0f} core-hours; {p['cores']} cores: "
        f"{p['cluster_presets_per_second']:.0f} presets/s ({p['bound_by']}-bound; one "
        f"driver takes {p['driver_max_presets_per_second']:.0f}/s, as many as "
        f"{p['cores_to_saturate_driver']:.0f} cores send), {p['hours']:.1f} h"
    )


if __name__ == "__main__":
    engines_speed()
