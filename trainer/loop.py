"""The one training loop: epochs, checkpoints, early stop on a named metric, progress, logs.

Every model of the trainer (film and link vectors, the ranking model, the rating model and
its baselines) is fitted by `EpochLoop.fit`; what differs per model is a small `Task`:

    task.name                  how the logs name it
    task.steps_per_epoch       batches in one epoch
    task.examples_per_step     for the progress line's examples/s (`rate_name`, if the task
                               has one, names the rate in the history: "positives_per_s")
    task.batches(epoch, step)  one epoch's batches from `step` on: a pure function of (seed,
                               epoch, step), so a resumed run sees exactly the batches the
                               interrupted one would have (trainer/pipeline.py)
    task.train_step(batch)     one update; returns the batch's loss
    task.evaluate()            the metrics after an epoch ({"auc": ...}), `monitor` among them
    task.checkpoint            {"model": ..., "optimizer": ...}: what a checkpoint holds

The loop owns the rest (implicit's RecommenderBase and TFRS's Model.compute_loss have this
shape: one interface, the model's part small). With a checkpoint folder, it saves the model,
the optimizer and its position (TrainingState) at each epoch end and every
`checkpoint_every_steps` steps; `resume()` restores the latest. It stops early when the
monitored metric has not improved by `min_delta` for `patience` epochs, writes each epoch's
metrics to TensorBoard, and logs progress (examples/s, ETA) every `progress_interval_s`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from trainer.run_folder import TrainingState, restore_latest

logger = logging.getLogger(__name__)


class Task(Protocol):
    name: str
    steps_per_epoch: int
    examples_per_step: int
    checkpoint: dict[str, Any]

    def batches(self, epoch: int, first_step: int) -> Iterable: ...

    def train_step(self, batch) -> Any: ...

    def evaluate(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class LoopSettings:
    """How long to train and when to stop: one section's settings ([train], [rank], [rate])."""

    epochs: int
    monitor: str  # the key of task.evaluate() that early stopping watches
    higher_is_better: bool = True
    patience: int = 0  # 0: never stop early
    min_delta: float = 0.0
    checkpoint_every_steps: int = 0
    progress_interval_s: float = 0.0

    @classmethod
    def of(cls, section: dict, monitor: str, higher_is_better: bool = True) -> LoopSettings:
        return cls(epochs=section["epochs"], monitor=monitor, higher_is_better=higher_is_better,
                   patience=section.get("early_stop_patience", 0),
                   min_delta=section.get("early_stop_min_delta", 0.0),
                   checkpoint_every_steps=section.get("checkpoint_every_steps", 0),
                   progress_interval_s=section.get("progress_interval_s", 0.0))


class EpochLoop:
    """Fits one Task (module docstring). `checkpoints`: the folder of its checkpoints and
    state (None: in memory only, nothing saved, no resume); `logs`: its TensorBoard folder."""

    def __init__(self, task: Task, settings: LoopSettings, *, checkpoints: Path | None = None,
                 logs: Path | None = None, upstream: str = "inputs") -> None:
        self.task, self.settings, self.upstream = task, settings, upstream
        self.checkpoints, self.logs = checkpoints, logs
        self.state = TrainingState(checkpoints or Path("."))
        self.manager = None
        if checkpoints is not None:
            checkpoints.mkdir(parents=True, exist_ok=True)
            self.checkpoint = tf.train.Checkpoint(**task.checkpoint)
            self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoints,
                                                      max_to_keep=2)
        self.writer = None  # made when training starts: a refused resume leaves logs/ alone

    @property
    def history(self) -> list[dict]:
        return self.state.history

    @property
    def finished(self) -> bool:
        """Whether fit has nothing left to do: every epoch run, or stopped early."""
        return self.state.epoch >= self.settings.epochs or self.should_stop()

    def resume(self, source: Path | None = None) -> None:
        """Restore the latest checkpoint and the position beside it (from `source`, another
        worker's checkpoint folder, when given); RunFolderError when there is none or it
        does not fit this task's model, before anything has changed."""
        restore_latest(self.checkpoint, self.manager, self.state, self.checkpoints.parent,
                       self.upstream, source)
        logger.info("%s resumed from %s: epoch %d, step %d", self.task.name,
                    self.manager.latest_checkpoint, self.state.epoch + 1, self.state.step)

    def best(self, history: list[dict]) -> float:
        values = [h[self.settings.monitor] for h in history
                  if h.get(self.settings.monitor) is not None
                  and np.isfinite(h[self.settings.monitor])]
        if not values:
            return -np.inf if self.settings.higher_is_better else np.inf
        return max(values) if self.settings.higher_is_better else min(values)

    def should_stop(self) -> bool:
        """No improvement of the monitored metric by min_delta in the last `patience`
        epochs (over the best before them)."""
        s, history = self.settings, self.state.history
        if not s.patience or len(history) <= s.patience:
            return False
        before, recent = self.best(history[:-s.patience]), self.best(history[-s.patience:])
        if s.higher_is_better:
            return recent < before + s.min_delta
        return recent > before - s.min_delta

    def _save(self) -> None:
        if self.manager is not None:
            self.manager.save(checkpoint_number=self.state.global_step)
            self.state.save()

    def fit(self, stop_after_steps: int | None = None) -> list[dict]:
        """Train to `epochs` or the early stop; the per-epoch history. `stop_after_steps`
        ends the fit after that many global steps (tests and benchmarks that interrupt a
        run), leaving only what the checkpoints hold."""
        s, task, state = self.settings, self.task, self.state
        if self.writer is None and self.logs is not None:
            self.writer = tf.summary.create_file_writer(str(self.logs))
        total_steps = s.epochs * task.steps_per_epoch
        while not self.finished:
            started = last_log = time.perf_counter()
            steps_done, losses = 0, []
            for batch in task.batches(state.epoch, state.step):
                loss = task.train_step(batch)
                losses.append(loss)
                state.step += 1
                state.global_step += 1
                steps_done += 1
                every, interval = s.checkpoint_every_steps, s.progress_interval_s
                if every and state.global_step % every == 0:
                    self._save()
                if interval and time.perf_counter() - last_log >= interval:
                    last_log = time.perf_counter()
                    rate = steps_done * task.examples_per_step / (last_log - started)
                    left = (total_steps - state.global_step) * task.examples_per_step / rate
                    logger.info("%s epoch %d/%d step %d/%d loss %.4f  %.0f examples/s  "
                                "ETA %.0f s", task.name, state.epoch + 1, s.epochs, state.step,
                                task.steps_per_epoch, float(loss), rate, left)
                if stop_after_steps is not None and state.global_step >= stop_after_steps:
                    return state.history
            seconds = time.perf_counter() - started
            metrics = {"epoch": state.epoch + 1,
                       "loss": float(np.mean([float(x) for x in losses])) if losses else None,
                       **task.evaluate(), "seconds": seconds,
                       getattr(task, "rate_name", "examples_per_s"):
                       steps_done * task.examples_per_step / max(seconds, 1e-9)}
            state.history.append(metrics)
            state.epoch, state.step = state.epoch + 1, 0
            self._save()
            if self.writer is not None:
                with self.writer.as_default(step=state.epoch):
                    for name, value in metrics.items():
                        if name != "epoch" and value is not None and np.isfinite(value):
                            tf.summary.scalar(name, value)
            logger.info("%s epoch %d: %s", task.name, state.epoch, "  ".join(
                f"{k} {v:.4g}" for k, v in metrics.items()
                if k not in ("epoch", "seconds") and v is not None) + f"  {seconds:.1f} s")
        if state.history and self.should_stop() and state.epoch < s.epochs:
            logger.info("%s: early stop after epoch %d: %s has not improved by %g in %d "
                        "epochs", task.name, state.epoch, s.monitor, s.min_delta, s.patience)
        if self.writer is not None:
            self.writer.flush()
        return state.history
