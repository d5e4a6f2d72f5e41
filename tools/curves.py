"""Learning curves of training runs as PNGs (docs/BENCHMARKS.md shows them).

    python -m tools.curves RUN_DIR [RUN_DIR ...] --out docs/curves.png

One row per run: the training loss (every logged step, and its running mean) and the VALID
figures of its "valid" records (every top-level *_top1 / *_top5 mean and presence figure), so
anyone sees whether a run was still improving. Needs matplotlib (the `plots` extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cir.errors import CIRError

# VALID figures drawn when a run logs them (means over families; per-family ones left out).
VALID_KEYS = ("single_top1", "line_top1", "mix_top1", "mix_top5", "fused_top1",
              "presence_precision", "presence_recall")
_SMOOTH = 20  # logged points in the running mean of the training loss


class CurvesError(CIRError):
    """A run directory without a readable train.log, or matplotlib missing."""


def read_log(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training records, valid records) of a run's train.log."""
    path = Path(run_dir) / "train.log"
    if not path.is_file():
        raise CurvesError(f"{path} not found: give the directory of a `cir train` run")
    train, valid = [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "valid":
            valid.append(record)
        elif "loss" in record and "event" not in record:
            train.append(record)
    return train, valid


def plot_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the curves of `run_dirs` to the PNG `out`; returns its path."""
    try:
        import matplotlib
    except ImportError as exc:
        raise CurvesError("matplotlib is missing: pip install 'cir[plots]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(run_dirs), 2, figsize=(12, 3.6 * len(run_dirs)), squeeze=False)
    for row, run in zip(axes, run_dirs, strict=True):
        train, valid = read_log(run)
        name = Path(run).name
        steps = [r["step"] for r in train]
        loss = [r["loss"] for r in train]
        mean = [sum(loss[max(0, i - _SMOOTH + 1) : i + 1]) / len(loss[max(0, i - _SMOOTH + 1) :
                i + 1]) for i in range(len(loss))]
        row[0].plot(steps, loss, lw=0.5, alpha=0.4, label="loss")
        row[0].plot(steps, mean, lw=1.5, label=f"running mean ({_SMOOTH} points)")
        row[0].set(title=f"{name}: training loss", xlabel="step")
        row[0].legend(fontsize=8)
        for key in VALID_KEYS:
            points = [(r["step"], r[key]) for r in valid if key in r]
            if points:
                row[1].plot(*zip(*points, strict=True), marker="o", ms=3, label=key)
        row[1].set(title=f"{name}: VALID", xlabel="step", ylim=(0, 1))
        row[1].grid(alpha=0.3)
        row[1].legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (each with a train.log)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    print(plot_runs(args.runs, args.out))


if __name__ == "__main__":
    main()
