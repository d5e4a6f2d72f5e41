"""`cir train`: read a config and run the training it names (note encoder, line encoder,
mix heads or family heads).

Kept apart from both loops so that neither imports the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cir import paths
from cir.training import family_heads, heads, lines
from cir.training.config import (
    BaseTrainConfig,
    EncoderTrainConfig,
    FamilyHeadsTrainConfig,
    HeadsTrainConfig,
    LineEncoderTrainConfig,
    TrainConfigError,
    load_config,
)
from cir.training.train import export_weights, train


def run(
    config_path: str | Path,
    out_dir: str | Path | None = None,
    resume: bool = False,
    export_dir: str | Path | None = None,
    progress: bool = True,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """`cir train`: load the config, train in `out_dir` (default: <runs dir>/<config name>,
    cir.paths.runs_dir), optionally export the best checkpoint (e.g. to training/checkpoints)
    as <config name>.pt, never over another run's weights.
    `stop_at`: stop after that step on the config's schedule (`resume` continues it)."""
    config = load_config(config_path)
    out = Path(out_dir) if out_dir else paths.runs_dir() / Path(config_path).stem
    if export_dir is not None:
        check_export(Path(export_dir), config)  # before hours of training, not after
    options = {"resume": resume, "progress": progress, "stop_at": stop_at}
    if isinstance(config, LineEncoderTrainConfig):
        summary, export = lines.train_lines(config, out, **options), export_weights
    elif isinstance(config, FamilyHeadsTrainConfig):
        summary = family_heads.train_family_heads(config, out, **options)
        export = heads.export_heads
    elif isinstance(config, HeadsTrainConfig):
        summary, export = heads.train_heads(config, out, **options), heads.export_heads
    else:
        assert isinstance(config, EncoderTrainConfig)
        summary, export = train(config, out, **options), export_weights
    if export_dir is not None:
        check_export(Path(export_dir), config)
        summary["exported"] = str(export(out / "best.pt", export_dir, config.name))
    return summary


def check_export(export_dir: Path, config: BaseTrainConfig) -> None:
    """TrainConfigError when `export_dir` holds <config name>.pt from another run (its
    <name>.json records a different training config, or none): an export never replaces
    weights that another config trained."""
    weights, info = export_dir / f"{config.name}.pt", export_dir / f"{config.name}.json"
    if not weights.exists():
        return
    theirs = json.loads(info.read_text()).get("train_config") if info.is_file() else None
    if theirs == config.to_dict():
        return  # the same run again (a longer schedule is another run)
    made_by = (f"config {theirs.get('name')!r} ({theirs.get('kind')})" if theirs
               else "an unknown run")
    raise TrainConfigError(
        f"{weights} holds the weights of {made_by}, not of this config: export to another "
        "folder (--export), give the config another name, or delete that file first"
    )
