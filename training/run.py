"""`cir train`: read a config and run the training it names (note encoder, line encoder,
mix heads or family heads).

Kept apart from both loops so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cir import paths
from cir.training import family_heads, heads, lines
from cir.training.config import (
    EncoderTrainConfig,
    FamilyHeadsTrainConfig,
    HeadsTrainConfig,
    LineEncoderTrainConfig,
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
    cir.paths.runs_dir), optionally export the best checkpoint (e.g. to encoder/weights).
    `stop_at`: stop after that step on the config's schedule (`resume` continues it)."""
    config = load_config(config_path)
    out = Path(out_dir) if out_dir else paths.runs_dir() / Path(config_path).stem
    if isinstance(config, LineEncoderTrainConfig):
        summary = lines.train_lines(config, out, resume=resume, progress=progress,
                                     stop_at=stop_at)
        if export_dir is not None:
            summary["exported"] = str(export_weights(out / "best.pt", export_dir, config.name))
        return summary
    if isinstance(config, FamilyHeadsTrainConfig):
        summary = family_heads.train_family_heads(config, out, resume=resume,
                                                  progress=progress, stop_at=stop_at)
        if export_dir is not None:
            exported = heads.export_heads(out / "best.pt", export_dir, config.name)
            summary["exported"] = str(exported)
        return summary
    if isinstance(config, HeadsTrainConfig):
        summary = heads.train_heads(config, out, resume=resume, progress=progress,
                                    stop_at=stop_at)
        if export_dir is not None:
            exported = heads.export_heads(out / "best.pt", export_dir, config.name)
            summary["exported"] = str(exported)
        return summary
    assert isinstance(config, EncoderTrainConfig)
    summary = train(config, out, resume=resume, progress=progress, stop_at=stop_at)
    if export_dir is not None:
        summary["exported"] = str(export_weights(out / "best.pt", export_dir, config.name))
    return summary
