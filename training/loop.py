"""The step skeleton every kind of training shares: optimiser, schedule, resume, log, evaluation.

    for step in [start, steps):  loss = job.step_loss(step); AdamW step (gradient clipped)
      every log_every          one JSON line in train.log (step, lr, loss parts, elapsed)
      every eval_every         job.validate() -> one "valid" line (with the mean training loss
                               since the previous one); best.pt kept by its "score"
      every checkpoint_every   last.pt: weights, optimiser, scheduler, step, best, elapsed

A batch is a pure function of (seed, step), so `resume` continues a stopped run on the data
it would have seen. What differs between kinds (model, batches, loss, checkpoint layout,
validation) comes in a `Job`.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cir.training.config import BaseTrainConfig, TrainConfigError

# Earlier generations of weights that configs start from (cir-line, cir-cnn, ...): in the
# repository beside the configs, not in the wheel (docs/BENCHMARKS.md has their figures).
CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"


@dataclass
class Job:
    """What one kind of training gives the loop."""

    model: nn.Module
    # step -> (loss to minimise, {name: float} logged beside it)
    step_loss: Callable[[int], tuple[torch.Tensor, dict[str, float]]]
    # () -> VALID metrics; "score" picks best.pt
    validate: Callable[[], dict[str, float]]
    # (path, extra fields) -> write the model's checkpoint with `extra`
    save: Callable[[Path, dict[str, Any]], None]
    # path -> payload of a last.pt, the model's weights already loaded from it
    restore: Callable[[Path], dict[str, Any]]
    label: str = "training"
    start_record: dict[str, Any] = field(default_factory=dict)
    parameters: list[nn.Parameter] | None = None  # default: every parameter of `model`


class Prefetcher:
    """Makes the batches of steps start, start + 1, ... in a background thread, `depth` ahead
    (numpy work beside torch's: the second core). Batches stay pure functions of the step."""

    def __init__(self, make: Callable[[int], Any], stop: int, depth: int = 2):
        self.make, self.stop, self.depth = make, stop, depth
        self.next_step: int | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.thread: threading.Thread | None = None

    def get(self, step: int) -> Any:
        if self.depth <= 0:
            return self.make(step)
        if self.thread is None:
            self.next_step = step
            self.thread = threading.Thread(target=self._run, args=(step,), daemon=True)
            self.thread.start()
        if step != self.next_step:
            raise RuntimeError(f"batches come in step order: asked {step}, next {self.next_step}")
        got_step, batch = self.queue.get()
        if isinstance(batch, BaseException):
            raise batch
        self.next_step = got_step + 1
        return batch

    def _run(self, start: int) -> None:
        for step in range(start, self.stop):
            try:
                item = (step, self.make(step))
            except BaseException as exc:  # surfaced in the trainer's thread by get()
                item = (step, exc)
            self.queue.put(item)
            if isinstance(item[1], BaseException):
                return


def lr_factor(step: int, config: BaseTrainConfig) -> float:
    """Linear warm-up to 1, then cosine decay to final_lr_fraction."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    t = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.final_lr_fraction + (1 - config.final_lr_fraction) * 0.5 * (
        1 + math.cos(math.pi * min(t, 1.0))
    )


def start_run(out_dir: str | Path, config: BaseTrainConfig, resume: bool) -> Path:
    """The run folder, created, with the config it runs written beside its checkpoints. A new
    run never replaces one that is there: TrainConfigError says how to continue or move it."""
    out = Path(out_dir)
    if not resume and (out / "last.pt").exists():
        raise TrainConfigError(
            f"run folder {out} already holds a run: add --resume to continue it, or give "
            "--out another folder (or delete this one) to start afresh"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return out


def weights_path(name: str) -> Path:
    """A checkpoint named in a config. Relative paths name files of the encoder package
    ('weights/cir-line-sf3.pt': the shipped weights) or of the training folder
    ('checkpoints/cir-line.pt': earlier generations, kept in the repository for the configs
    that start from them, left out of the wheel); others are taken as they are."""
    from cir.encoder.embed import WEIGHTS_DIR

    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    beside_training = CHECKPOINTS_DIR.parent / path
    return beside_training if beside_training.exists() else WEIGHTS_DIR.parent / path


def load_frozen(config: Any, features: Any) -> tuple[Any, str]:
    """(model, version) of the config's `frozen_encoder`, TrainConfigError unless its features
    are `features`. Relative paths: as weights_path."""
    from cir.encoder.model import load_model

    frozen, version = load_model(weights_path(config.frozen_encoder))
    if frozen.config.features != features:
        raise TrainConfigError(
            f"frozen encoder {config.frozen_encoder} uses features "
            f"{frozen.config.features.to_dict()}, the config {features.to_dict()}: "
            "set n_mels to the frozen encoder's"
        )
    return frozen, version


def log_line(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with `threads` torch threads (None: unchanged), restored afterwards."""
    previous = torch.get_num_threads()
    if threads:
        # On shared cores torch's OpenMP threads spin against each other (10x slower steps
        # measured with 2 threads under load), and one thread keeps results reproducible.
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_loop(
    config: BaseTrainConfig, out: Path, job: Job, resume: bool, progress: bool,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Train `job` for config.steps steps in `out` (continuing last.pt when `resume`).
    `stop_at`: stop after that step (evaluated and checkpointed there) on the config's own
    schedule, so a later `resume` continues exactly as if never stopped."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    last, best_path, log_path = out / "last.pt", out / "best.pt", out / "train.log"
    params = job.parameters if job.parameters is not None else list(job.model.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config))
    start, best, elapsed = 0, None, 0.0
    if resume and last.is_file():
        state = job.restore(last)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best, elapsed = state["step"], state.get("best"), state.get("elapsed", 0.0)
    elif not resume and log_path.exists():
        log_path.unlink()
    log_line(log_path, {"event": "start", "step": start, **job.start_record})
    if start == 0:
        # Where the run starts from (a fine-tune's step 0 is the model it starts from).
        log_line(log_path, {"event": "valid", "step": 0, **job.validate()})

    job.model.train()
    t_loop = time.time()
    recent: list[float] = []  # training losses since the last evaluation
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(job.label, total=config.steps, completed=start, info="")
        end = min(config.steps, stop_at) if stop_at else config.steps
        for step in range(start, end):
            loss, parts = job.step_loss(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            sched.step()
            recent.append(float(loss.detach()))
            done = step + 1
            if done % config.log_every == 0:
                loss_value = round(recent[-1], 4)
                log_line(log_path, {"step": done, "lr": sched.get_last_lr()[0],
                                    "loss": loss_value, **parts,
                                    "elapsed": round(elapsed + time.time() - t_loop, 1)})
                bar.update(task, info=f"loss {loss_value:.3f}")
            if done % config.eval_every == 0 or done in (config.steps, end):
                metrics = job.validate()
                job.model.train()
                log_line(log_path, {"event": "valid", "step": done,
                                    "train_loss": round(sum(recent) / len(recent), 4), **metrics,
                                    "elapsed": round(elapsed + time.time() - t_loop, 1)})
                recent = []
                if best is None or metrics["score"] > best["score"]:
                    best = {"step": done, **metrics}
                    job.save(best_path, {"step": done, "metrics": metrics,
                                         "train_config": config.to_dict()})
                bar.update(task, info=f"valid score {metrics['score']:.3f} "
                                      f"(best {best['score']:.3f})")
            if done % config.checkpoint_every == 0 or done in (config.steps, end):
                job.save(last, {"step": done, "train_config": config.to_dict(),
                                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                "best": best, "elapsed": elapsed + time.time() - t_loop})
            bar.update(task, completed=done)
    summary = {"steps": config.steps, **({"stopped_at": end} if end < config.steps else {}),
               "train_seconds": round(elapsed + time.time() - t_loop, 1),
               "best": best, "out": str(out)}
    log_line(log_path, {"event": "done", **summary})
    return summary
