"""The training run: data, strategy, model, epochs, checkpoints, early stop, then export.

    run(tables_dir, run_dir, cfg, resume=False, pairs=None, ratings=None) -> manifest dict

The epochs, checkpoints (at each epoch end and every `train.checkpoint_every_steps` steps),
early stop on the held-out AUC, progress and TensorBoard scalars are trainer/loop.py's, as
for every model of the trainer. Batches are pure functions of (seed, epoch, step)
(trainer/pipeline.py), so `resume=True` restores the latest checkpoint and continues with
exactly the batches the interrupted run would have seen, reaching the same result.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from conf import ConfigError
from conf.manifest import MANIFEST, RUN_KIND
from trainer import run_folder
from trainer.evaluate import evaluate_vectors, film_vectors_from_links, held_out_for
from trainer.loop import EpochLoop, LoopSettings
from trainer.models import FilmEmbeddingModel
from trainer.optimizers import make_optimizer
from trainer.pipeline import PairSampler, pointwise_dataset, steps_per_epoch
from trainer.run_folder import Worker, worker_of_env
from trainer.steps import make_train_step, pointwise_loss
from trainer.tables import Tables, heldout_mask, load_tables

logger = logging.getLogger(__name__)



@dataclass
class Data:
    tables: Tables
    train: np.ndarray  # [n, 2] film, link: what the model trains on
    train_counts: np.ndarray
    heldout: np.ndarray  # [h, 2]
    positive_counts: np.ndarray | None  # draw positives by count (train.weight_by_count)


def prepare_data(tables: Tables, cfg) -> Data:
    """Hold out links; the model trains on the rest."""
    t = cfg["train"]
    held = heldout_mask(tables, cfg)
    train, heldout = tables.film_links[~held], tables.film_links[held]
    counts = tables.film_link_counts[~held]
    return Data(tables=tables, train=train, train_counts=counts, heldout=heldout,
                positive_counts=counts.astype(np.float64) if t["weight_by_count"] else None)


def configure_devices(cfg) -> tf.distribute.Strategy:
    """The tf.distribute strategy of `train.strategy`; call before any other TensorFlow op."""
    t = cfg["train"]
    if t["cpu_devices"] > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * t["cpu_devices"])
    if t["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    if t["strategy"] == "mirrored":
        devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
                   or [d.name for d in tf.config.list_logical_devices("CPU")])
        return tf.distribute.MirroredStrategy(devices=devices)
    if t["strategy"] == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("train.strategy = multi_worker needs the TF_CONFIG environment "
                              "variable listing the workers")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def build_model(data: Data, cfg) -> FilmEmbeddingModel:
    t = cfg["train"]
    return FilmEmbeddingModel(data.tables.n_films, data.tables.n_links, t["dim"],
                              seed=t["seed"])


class Trainer:
    """Film and link vectors on one tables folder: the loop's Task (trainer/loop.py) and the
    run folder's model, optimizer and checkpoints."""

    name = "films"

    def __init__(self, data: Data, cfg, run_dir: Path, strategy: tf.distribute.Strategy,
                 worker: Worker | None = None) -> None:
        self.data, self.cfg, self.run_dir, self.strategy = data, cfg, run_dir, strategy
        self.worker = worker = worker or Worker()
        t = cfg["train"]
        self.t = t
        with strategy.scope():
            self.model = build_model(data, cfg)
            self.optimizer = make_optimizer(t["optimizer"], t["learning_rate"])
            self.optimizer.build(self.model.trainable_variables)
        self.sampler = PairSampler.build(data.train, data.tables.n_links,
                                         data.tables.link_film_count, t["negative_power"])
        self.steps_per_epoch = steps_per_epoch(len(data.train), t["batch_size"])
        self.batch_positives = min(t["batch_size"], len(data.train))
        jit = t["jit_compile"] and strategy.num_replicas_in_sync == 1
        self._step = make_train_step(self.model, self.optimizer, self._loss_fn(), strategy,
                                     jit)
        self.held = held_out_for(data.train, data.heldout, data.tables.n_links, cfg)
        self.checkpoint = {"model": self.model, "optimizer": self.optimizer}
        # A worker other than the chief checkpoints (every worker must take part in a
        # save) into a folder of its own and writes no logs; the run folder is the chief's.
        own = run_dir if worker.chief else Path(tempfile.mkdtemp(prefix="wikifilms-worker-"))
        self.loop = EpochLoop(self, LoopSettings.of(t, "auc"), checkpoints=own / "checkpoints",
                              logs=run_dir / "logs" / "train" if worker.chief else None,
                              upstream="tables")

    @property
    def state(self):
        return self.loop.state

    def _loss_fn(self):
        return lambda batch: pointwise_loss(self.model, batch, self.t["logit_scale"])

    def batches(self, epoch: int, first_step: int) -> tf.data.Dataset:
        t = self.t

        def dataset(shard=(0, 1)):
            return pointwise_dataset(
                self.data.train, self.sampler, batch_size=t["batch_size"],
                negatives_per_positive=t["negatives_per_positive"],
                policy=t["accidental_positives"], reject_rounds=t["reject_rounds"],
                seed=t["seed"], epoch=epoch, counts=self.data.positive_counts,
                first_step=first_step, shard=shard)

        if self.worker.count > 1:
            # Each worker makes its part of every step's batch (the same steps on all, so
            # no worker waits for a step the others never take).
            return self.strategy.distribute_datasets_from_function(
                lambda context: dataset((context.input_pipeline_id,
                                         context.num_input_pipelines)))
        return self.strategy.experimental_distribute_dataset(dataset())

    def train_step(self, batch):
        return self._step(batch)["loss"]

    @property
    def examples_per_step(self) -> int:
        return self.batch_positives * (1 + self.t["negatives_per_positive"])

    def model_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(films, links) as the model scores them: each film its own learned vector. The
        held-out metrics of each epoch and early stopping judge the training objective."""
        return self.model.export_vectors()

    def vectors(self, all_links: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(films, links) as the run exports them: learned link vectors, and films made of
        their links' vectors (evaluate.film_vectors_from_links). From the training links
        only unless `all_links` (the export): held-out links must not reach the films they
        score."""
        _, links = self.model_vectors()
        tables = self.data.tables
        if all_links:
            rows, counts = tables.film_links, tables.film_link_counts
        else:
            rows, counts = self.data.train, self.data.train_counts
        return film_vectors_from_links(links, rows, counts, tables.n_films), links

    def evaluate(self) -> dict[str, float]:
        films, links = self.model_vectors()
        return evaluate_vectors(films, links, self.held, self.cfg["eval"]["recall_at"])

    def resume(self) -> None:
        """Restore the latest checkpoint (a worker: the chief's); RunFolderError when it does
        not fit this model (other tables, dimension or model), before anything in the run
        folder has changed."""
        self.loop.resume(None if self.worker.chief else self.run_dir / "checkpoints")

    def fit(self, stop_after_steps: int | None = None) -> list[dict]:
        """Train to the configured epochs (or early stop); the per-epoch history."""
        return self.loop.fit(stop_after_steps)


def prepare_run_dir(run_dir: Path, tables: Tables, resume: bool, overwrite: bool) -> None:
    """trainer.run_folder.prepare_run_dir for a films run started on a tables folder."""
    run_folder.prepare_run_dir(run_dir, kind=RUN_KIND, what="run folder", upstream="tables",
                               source=tables.folder, source_id=tables.manifest["id"],
                               inputs=[tables.folder], resume=resume, overwrite=overwrite)


def run(tables_dir: str, run_dir: str | Path, cfg, *, resume: bool = False,
        overwrite: bool = False, pairs: str | None = None, ratings: str | None = None,
        stop_after_steps: int | None = None) -> dict | None:
    """Train and export; returns the run manifest (None when stopped by stop_after_steps).
    `pairs` (a pairs file) and `ratings` (a ratings folder linked to these tables) add the
    quality report (trainer/quality.py) to the run's metrics."""
    from trainer import export
    from trainer.quality import read_pairs
    from trainer.ratings import load_ratings

    run_dir = Path(run_dir)
    started = time.perf_counter()
    strategy = configure_devices(cfg)
    tables = load_tables(tables_dir)
    # Checked before training, not found wanting an hour later.
    if pairs:
        read_pairs(pairs, tables.film_titles)
    rated = load_ratings(ratings, tables.manifest["id"]) if ratings else None
    worker = worker_of_env()
    if worker.chief:  # the run folder is the chief's: the other workers never touch it
        prepare_run_dir(run_dir, tables, resume, overwrite)
    data = prepare_data(tables, cfg)
    trainer = Trainer(data, cfg, run_dir, strategy, worker)
    if resume:
        trainer.resume()
        if worker.chief:
            (run_dir / MANIFEST).unlink(missing_ok=True)  # unfinished again until export
    logger.info("training: %d positives, %d steps/epoch of %d examples, %d held-out links, "
                "%d replica(s)", len(data.train),
                trainer.steps_per_epoch, trainer.examples_per_step, len(data.heldout),
                strategy.num_replicas_in_sync)
    history = trainer.fit(stop_after_steps)
    if not trainer.loop.finished:
        return None
    if not worker.chief:
        logger.info("worker %d of %d: trained %d epochs beside the chief, which writes %s",
                    worker.index, worker.count, len(history), run_dir)
        return {"worker": worker.index, "epochs": len(history)}
    return export.export_run(trainer, history, cfg, pairs=pairs, ratings=rated,
                             seconds=time.perf_counter() - started)
