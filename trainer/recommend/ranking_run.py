"""The ranking run: ratings (+ a films run) -> split -> features -> BPR model -> run folder.

    run(ratings_dir, run_dir, cfg, films_run=None, resume=False, overwrite=False) -> manifest

The model of `rank.features` is fitted by trainer/loop.py (checkpoints at each epoch end,
early stopping on the validation AUC, TensorBoard scalars, `--resume`: batches are pure
functions of (seed, epoch, step), trainer/pipeline.py). With `rank.compare`, models with
fewer features (ids only; ids + genres) are trained on the same split and reported beside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from conf.manifest import MANIFEST
from trainer.loop import EpochLoop, LoopSettings
from trainer.optimizers import make_optimizer
from trainer.pipeline import PairSampler, auto_batch_size, pointwise_dataset, steps_per_epoch
from trainer.ratings import Catalogue, Ratings, load_catalogue
from trainer.recommend.features import Features, user_features
from trainer.recommend.inputs import (
    FilmsRun,
    catalogue_features,
    check_trainable,
    open_inputs,
    start_run_folder,
)
from trainer.recommend.metrics import AucTask, VectorScorer, mean_auc
from trainer.recommend.ranking_model import RankingModel, pairwise_loss
from trainer.recommend.split import Split, make_split
from trainer.steps import make_l2_step

logger = logging.getLogger(__name__)


@dataclass
class RankingData:
    ratings: Ratings
    catalogue: Catalogue
    split: Split
    positives: np.ndarray  # [n, 2] user, item: the training positives
    positive_weights: np.ndarray | None  # how often each is drawn; None: once an epoch
    trained_items: np.ndarray  # bool [n_items]: items with training ratings
    validation: AucTask
    test: AucTask
    cold: AucTask
    films: FilmsRun | None


def prepare_data(ratings: Ratings, films: FilmsRun | None, cfg) -> RankingData:
    """The split, the training positives and the three AUC tasks (split.py, metrics.py)."""
    r = cfg["rank"]
    catalogue = load_catalogue(ratings)
    split = make_split(ratings.user, ratings.item, catalogue.item_film,
                       test_per_user=r["test_per_user"],
                       validation_per_user=r["validation_per_user"],
                       cold_share=r["cold_share"], seed=r["seed"])
    train = split.train
    liked = ratings.rating[train] >= r["min_rating"]
    check_trainable(ratings, int(liked.sum()),
                    f"training rating is >= rank.min_rating ({r['min_rating']:g}) among "
                    f"{len(train)}: lower rank.min_rating")
    if r["disliked_weight"] <= 0:
        train, liked = train[liked], liked[liked]
    positives = np.stack([ratings.user[train], ratings.item[train]], axis=1).astype(np.int32)
    # Every positive drawn once an epoch, or (with disliked ratings among them) drawn in
    # proportion to its weight.
    weights = (None if liked.all()
               else np.where(liked, 1.0, r["disliked_weight"]).astype(np.float64))
    trained = np.zeros(catalogue.n_items, bool)
    trained[ratings.item[split.train]] = True
    warm = np.flatnonzero(split.warm_items(catalogue.n_items))

    def task(name, rows, candidates, max_users=r["eval_max_users"]):
        return AucTask.build(name, ratings.user[rows], ratings.item[rows], ratings.rating[rows],
                             candidates, r["min_rating"], max_users, r["seed"])

    return RankingData(ratings=ratings, catalogue=catalogue, split=split, positives=positives,
                       positive_weights=weights, trained_items=trained,
                       validation=task("validation", split.validation, warm,
                                       r["validation_max_users"]),
                       test=task("test", split.test, warm),
                       cold=task("cold", split.cold_test, split.cold_items), films=films)


def features_for(data: RankingData, use: list[str], cfg) -> Features:
    return catalogue_features(use, data.catalogue, data.trained_items, data.films,
                              cfg["rank"]["link_min_items"])


def users_for(data: RankingData, use: list[str]) -> Features:
    """The users' features (features.user_features) from their training ratings."""
    train = data.split.train
    return user_features(use, n_users=data.catalogue.n_users, n_items=data.catalogue.n_items,
                         user=data.ratings.user[train], item=data.ratings.item[train])


class RankingTrainer:
    """One ranking model: its features, optimizer and batches, the loop's Task
    (trainer/loop.py); with a run folder, its checkpoints and TensorBoard scalars."""

    rate_name = "positives_per_s"

    def __init__(self, data: RankingData, features: Features, cfg,
                 run_dir: Path | None = None, name: str = "model") -> None:
        self.data, self.features, self.cfg, self.name = data, features, cfg, name
        r = self.r = cfg["rank"]
        self.user_features = users_for(data, r["user_features"])
        self.model = RankingModel(self.user_features, features, r["dim"],
                                  seed=r["seed"], stddev=r["init_stddev"])
        self.optimizer = make_optimizer(r["optimizer"], r["learning_rate"])
        self.optimizer.build(self.model.trainable_variables)
        # Negatives: among the items with training ratings (an item nobody rated in training
        # is never pushed down for it), in proportion to their ratings ** negative_power.
        counts = np.bincount(data.positives[:, 1], minlength=data.catalogue.n_items)
        self.sampler = PairSampler.from_weights(
            data.positives, data.trained_items * np.power(np.maximum(counts, 1.0),
                                                          r["negative_power"]))
        self.batch_size = r["batch_size"] or auto_batch_size(len(data.positives), 1024)
        self.steps_per_epoch = steps_per_epoch(len(data.positives), self.batch_size)
        self.examples_per_step = min(self.batch_size, len(data.positives))
        self.train_step = self._make_step()
        self.checkpoint = {"model": self.model, "optimizer": self.optimizer}
        self.loop = EpochLoop(self, LoopSettings.of(r, "validation_auc"),
                              checkpoints=run_dir / "checkpoints" if run_dir else None,
                              logs=run_dir / "logs" / "train" if run_dir else None,
                              upstream="ratings")

    @property
    def state(self):
        return self.loop.state

    def _make_step(self):
        model, r = self.model, self.r

        def loss_of(batch):
            scores, users, items = model({"user": batch["query"], "item": batch["item"]})
            return tf.reduce_mean(pairwise_loss(scores, batch["weight"], r["loss"])), users, items
        return make_l2_step(model, self.optimizer, loss_of, r["l2"], r["jit_compile"])

    def batches(self, epoch: int, first_step: int) -> tf.data.Dataset:
        r = self.r
        return pointwise_dataset(self.data.positives, self.sampler, batch_size=self.batch_size,
                                 negatives_per_positive=r["negatives_per_positive"],
                                 policy="reject", reject_rounds=3, seed=r["seed"],
                                 epoch=epoch, counts=self.data.positive_weights,
                                 first_step=first_step)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return self.model.export_vectors()

    def auc(self, task: AucTask) -> float:
        return mean_auc(VectorScorer(*self.vectors()), task)

    def evaluate(self) -> dict[str, float]:
        return {"validation_auc": self.auc(self.data.validation)}

    def resume(self) -> None:
        """Restore the latest checkpoint; RunFolderError when it does not fit this model."""
        self.loop.resume()

    def fit(self, stop_after_steps: int | None = None) -> list[dict]:
        """Train to rank.epochs or early stop; the per-epoch history (loss, validation AUC)."""
        return self.loop.fit(stop_after_steps)


def comparison_feature_sets(use: list[str]) -> dict[str, list[str]]:
    """The models reported beside the configured one: ids only, and ids + genres."""
    sets = {"ids": ["ids"], "ids+genres": ["ids", "genres"]}
    return {name: s for name, s in sets.items() if set(s) != set(use)}


def run(ratings_dir: str, run_dir: str | Path, cfg, *, films_run: str | None = None,
        resume: bool = False, overwrite: bool = False,
        stop_after_steps: int | None = None) -> dict | None:
    """Train, compare, export; returns the manifest (None when stopped by stop_after_steps)."""
    from trainer.recommend import ranking_export as export

    run_dir = Path(run_dir)
    started = time.perf_counter()
    r = cfg["rank"]
    if r["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    ratings, films = open_inputs(ratings_dir, films_run, run_dir, r["features"], "rank",
                                 resume=resume, overwrite=overwrite)
    data = prepare_data(ratings, films, cfg)
    start_run_folder(run_dir, ratings, films_run, resume=resume, overwrite=overwrite)
    trainer = RankingTrainer(data, features_for(data, r["features"], cfg), cfg, run_dir,
                             name="+".join(r["features"]))
    if resume:
        trainer.resume()
        (run_dir / MANIFEST).unlink(missing_ok=True)
    logger.info("ranking: %d users, %d items (%d cold), %d training positives, %d steps/epoch",
                data.catalogue.n_users, data.catalogue.n_items, len(data.split.cold_items),
                len(data.positives), trainer.steps_per_epoch)
    trainer.fit(stop_after_steps)
    if not trainer.loop.finished:
        return None
    compared = {}
    if r["compare"]:
        for name, use in comparison_feature_sets(r["features"]).items():
            other = RankingTrainer(data, features_for(data, use, cfg), cfg, name=name)
            other.fit()
            compared[name] = other
    return export.export_run(trainer, compared, data, cfg, run_dir,
                             seconds=time.perf_counter() - started)
