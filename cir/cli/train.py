"""`cir train`: train the timbre encoder from a config file (resumable)."""

from __future__ import annotations

import click

from cir.cli.output import echo_json, json_option, json_stdout


@click.command()
@click.option("--config", "-c", "config_path", type=click.Path(exists=True, dir_okay=False),
              required=True, help="Training config (JSON), e.g. training/configs/cir-line.json.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: ~/.local/share/cir/runs/<config name>; "
                   "CIR_RUNS moves the runs dir].")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last.pt.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="When done, copy best.pt (no optimiser state) + its JSON here, "
                   "e.g. encoder/weights.")
@click.option("--stop-at", "stop_at", type=click.IntRange(1), default=None,
              help="Stop after this step, on the config's own schedule (--resume continues).")
@json_option("Print the summary as JSON (progress goes to stderr).")
def train(config_path: str, out_dir: str | None, resume: bool, export_dir: str | None,
          stop_at: int | None, as_json: bool) -> None:
    """Train the encoder (or its mix heads) on rendered notes, lines and mixes of the factory
    bank's TRAIN presets, plus every preset of the SoundFonts the config lists
    ("soundfonts"); the config's "kind" says which training.

    Data is rendered once into the user cache dir
    (CIR_CACHE overrides; all cores); checkpoints, train.log and the best
    checkpoint by the VALID benchmark go to the run folder. Same config, same weights.

    \b
    Example:
        cir train --config training/configs/cir-line.json
        cir train --config training/configs/cir-line.json --resume
        cir train --config training/configs/cir-line.json --stop-at 5000
        cir train --config training/configs/cir-cnn.json --export training/checkpoints
    """
    from cir.training.run import run

    with json_stdout(as_json):
        summary = run(config_path, out_dir, resume, export_dir, stop_at=stop_at)
    if as_json:
        echo_json(summary)
    else:
        best = summary["best"] or {}
        done = summary.get("stopped_at", summary["steps"])
        click.echo(f"trained {done} of {summary['steps']} steps in "
                   f"{summary['train_seconds']:.0f} s "
                   f"(data {summary['data_seconds']:.0f} s); best valid score "
                   f"{best.get('score', float('nan')):.3f} at step {best.get('step')}; "
                   f"run folder {summary['out']}")
        if summary.get("exported"):
            click.echo(f"exported {summary['exported']}")
