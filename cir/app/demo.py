"""`cir demo`: the main job end to end on the built-in bank, with nothing else installed.

1. make sure the catalogue holds the bank's test split (+ distractors), building it if needed;
2. start a private daemon (its own endpoint and lock, so a user's daemon is never touched);
3. pick one test preset per family at random (seeded), render a loop from them;
4. send the loop through the bridge client; report the suggestions and where the true
   presets ranked; stop the daemon it started.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cir import defaults
from cir import paths as cir_paths
from cir.daemon.errors import NoCatalogueError
from cir.families import MIX_FAMILIES

# Demo loop length and tempo (the mix generator picks notes; these set the loop's size).
DEMO_SECONDS = 8.0
DEMO_BPM = 120.0
# A private daemon started by the demo exits by itself after this long without requests.
DEMO_DAEMON_IDLE_S = 300.0


@dataclass
class DemoResult:
    """What the demo did: the seed, the loop file, the true presets, the daemon's reply."""

    seed: int
    loop_path: Path
    truth: dict[str, dict[str, Any]]  # family -> {"preset_id", "name", "key"}
    reply: dict[str, Any]
    ranks: dict[str, int | None]  # family -> rank of the true preset (None: not in top k)
    k: int


def demo_sources(
    catalogue: Any, distractors: int | None, test_limit: int | None = None
) -> list[Any]:
    """Register (idempotently) the bank's test split and the distractors; the sources.

    `test_limit` (tests) takes a small, family-balanced part of the test split."""
    from cir.presets_db.sources import builtin

    args = builtin.normalise_args(split="test", limit=test_limit)
    chosen = [catalogue.add_source("builtin", builtin.PATH, args)]
    if distractors:
        args = builtin.normalise_args(split="valid", limit=distractors)
        chosen.append(catalogue.add_source("builtin", builtin.PATH, args))
    return chosen


def ensure_catalogue(
    path: str | Path | None = None,
    distractors: int | None = defaults.DEMO_DISTRACTORS,
    test_limit: int | None = None,
    progress: bool = True,
) -> Path:
    """Build the demo's part of the catalogue at `path` (incremental: fast when up to date)."""
    from cir.presets_db.build import build
    from cir.presets_db.catalogue import Catalogue

    with Catalogue.open(path) as catalogue:
        sources = demo_sources(catalogue, distractors, test_limit)
        build(catalogue, sources, progress=progress)
        return catalogue.path


def bank_test_presets(catalogue_path: Path) -> dict[str, list[Any]]:
    """Catalogue records of built-in test-split presets, per mix family."""
    from cir.presets_db.catalogue import Catalogue

    out: dict[str, list[Any]] = {}
    with Catalogue.open(catalogue_path) as catalogue:
        for family in MIX_FAMILIES:
            out[family] = [
                r for r in catalogue.presets(family=family, status="ok")
                if r.source.kind == "builtin" and r.locator.get("split") == "test"
            ]
    missing = [f for f, records in out.items() if not records]
    if missing:
        raise NoCatalogueError(
            f"the catalogue {catalogue_path} has no built-in test presets of "
            f"{', '.join(missing)}; run `cir demo` without --no-build to build them"
        )
    return out


def render_loop(
    truth: dict[str, Any], seed: int, seconds: float, sample_rate: int
) -> np.ndarray:
    """A loop of the chosen bank presets (one per family): (frames, 2) float32."""
    from cir.synth import bank
    from cir.training.mixes import render_mix

    presets = {family: bank.get_preset(record.key) for family, record in truth.items()}
    mix, _stems, _info = render_mix(presets, seed, seconds, sample_rate)
    mix = np.asarray(mix, np.float32)
    return np.stack([mix, mix], axis=1)  # stereo, like a DAW bounce


def _private_endpoint(workdir: Path) -> str:
    if sys.platform == "win32":
        import socket

        with socket.socket() as s:  # a free loopback port
            s.bind(("127.0.0.1", 0))
            return f"tcp://127.0.0.1:{s.getsockname()[1]}"
    return f"ipc://{workdir / 'demo.sock'}"


def run_demo(
    seed: int | None = None,
    catalogue: str | Path | None = None,
    k: int = defaults.MATCH_DEFAULT_K,
    out_dir: str | Path | None = None,
    build: bool = True,
    distractors: int | None = defaults.DEMO_DISTRACTORS,
    test_limit: int | None = None,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """The whole demo; `say` receives one line per step."""
    from cir.daemon import service
    from cir.protocol.client import Client

    seed = int(time.time()) % 1_000_000 if seed is None else int(seed)
    if build:
        say("catalogue: checking the built-in bank's test split (building what is missing) ...")
        catalogue_path = ensure_catalogue(catalogue, distractors, test_limit, progress)
    else:
        catalogue_path = Path(catalogue) if catalogue else cir_paths.catalogue_path()
    candidates = bank_test_presets(catalogue_path)
    rng = np.random.default_rng(seed)
    truth = {f: records[int(rng.integers(len(records)))] for f, records in candidates.items()}

    out = Path(out_dir) if out_dir else cir_paths.data_dir() / "demo"
    out.mkdir(parents=True, exist_ok=True)
    loop_path = out / f"loop-{seed}.wav"
    rate = defaults.RENDER_SAMPLE_RATE
    loop = render_loop(truth, seed, DEMO_SECONDS, rate)
    from pedalboard.io import AudioFile

    with AudioFile(str(loop_path), "w", rate, loop.shape[1]) as f:
        f.write(loop.T)
    say(f"loop: {DEMO_SECONDS:g} s of three random test presets (seed {seed}) "
        f"-> {loop_path}")

    with tempfile.TemporaryDirectory(prefix="cir-demo-") as tmp:
        workdir = Path(tmp)
        endpoint = _private_endpoint(workdir)
        say("daemon: starting (loading the encoder and the catalogue) ...")
        started = service.start(
            catalogue_path, endpoint=endpoint, lock_path=workdir / "demo.lock",
            idle_timeout=DEMO_DAEMON_IDLE_S, web_port=None,  # private: no page
        )
        try:
            say(f"daemon: pid {started.pid} at {endpoint}; sending the loop")
            with Client(endpoint) as client:
                reply = client.match(loop, rate, k=k, families=list(MIX_FAMILIES))
        finally:
            if started.started:
                service.stop(endpoint, workdir / "demo.lock")
                say("daemon: stopped")

    ranks: dict[str, int | None] = {}
    for family, record in truth.items():
        ids = [hit["preset_id"] for hit in reply["results"].get(family, [])]
        ranks[family] = ids.index(record.id) + 1 if record.id in ids else None
    return DemoResult(
        seed=seed,
        loop_path=loop_path,
        truth={f: {"preset_id": r.id, "name": r.name, "key": r.key} for f, r in truth.items()},
        reply=reply,
        ranks=ranks,
        k=k,
    )
