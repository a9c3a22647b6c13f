"""The rating run (`trainer rate`): ratings (+ a films run) -> folds -> the rating model and
its baselines on each -> a model on every rating -> rating run folder.

    run(ratings_dir, run_dir, cfg, films_run=None, resume=False, overwrite=False) -> manifest

Each model is fitted by trainer/loop.py with its own checkpoints
(`checkpoints/fold1-biased_mf`, `checkpoints/fold1-model`, ..., `checkpoints/final`), so
`resume=True` restores each model where the interrupted run left it (a finished one is
restored whole and not trained again) and reaches what an uninterrupted run reaches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from conf.manifest import MANIFEST, RATING_KIND, RATING_SCHEMA_VERSION, build_manifest, write_json
from trainer.arrays import shuffled_within
from trainer.loop import EpochLoop, LoopSettings
from trainer.optimizers import make_optimizer
from trainer.pipeline import auto_batch_size, rating_batches, steps_per_epoch
from trainer.ratings import Catalogue, Ratings, RatingsError, load_catalogue, rating_scale
from trainer.recommend.features import Features, user_features
from trainer.recommend.inputs import (
    FilmsRun,
    catalogue_features,
    check_trainable,
    open_inputs,
    start_run_folder,
)
from trainer.recommend.ranking_export import write_id_tables
from trainer.recommend.rating_model import RatingModel
from trainer.steps import make_l2_step

logger = logging.getLogger(__name__)

PROTOCOL = ("each user's ratings are dealt at random (seeded by rate.seed) into rate.folds "
            "folds; with one fold, 20 % of each user's ratings are the test (a seeded 80/20 "
            "split), with k > 1 each fold is the test once (k-fold cross-validation, mean and "
            "sd). On each split, in the same run: the model of rate.features and the baselines "
            "people compare against (the most common rating; the global mean; user and item "
            "biases as Surprise's BaselineOnly, by alternating least squares; a biased matrix "
            "factorisation, ids only, as Surprise's SVD): RMSE and MAE of predictions clipped "
            "to the stars the ratings use")


def user_folds(user: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """int [n]: the fold of each rating; each user's ratings dealt at random over the folds
    (with one fold: 20 % of each user's ratings in fold 0, the test)."""
    rng = np.random.default_rng(seed)
    order = shuffled_within(user, rng)
    starts = np.searchsorted(user[order], user[order], side="left")
    rank = np.arange(len(user)) - starts
    fold = np.empty(len(user), np.int64)
    if folds > 1:
        fold[order] = rank % folds
    else:  # test = every fifth rating of the user's shuffled ratings
        fold[order] = np.where(rank % 5 == 4, 0, 1)
    return fold


def check_folds(ratings: Ratings, fold: np.ndarray, folds: int) -> None:
    """RatingsError when there is nothing to train on, or a fold has no test ratings (with
    one fold, the test is every fifth rating of a user: users with fewer than 5 have none)."""
    check_trainable(ratings, len(ratings.rating), "ratings")
    sizes = np.bincount(fold, minlength=max(2, folds))
    empty = [k for k in range(max(1, folds)) if sizes[k] == 0]
    if empty and folds > 1:
        raise RatingsError(f"{ratings.folder}: {len(ratings.rating)} ratings leave fold "
                           f"{empty[0] + 1} of {folds} without test ratings (users need "
                           f"{folds} ratings or more): lower rate.folds")
    if empty:
        raise RatingsError(f"{ratings.folder}: {len(ratings.rating)} ratings leave no test "
                           "ratings (the 80/20 split tests every fifth rating of a user: no "
                           "user has 5)")


def validation_rows(user: np.ndarray, share: float, seed: int) -> np.ndarray:
    """bool [n]: `share` of each user's rows (seeded, at least one of a user with 5 or more,
    never all), the validation ratings early stopping watches."""
    rng = np.random.default_rng(seed + 7)
    order = shuffled_within(user, rng)
    starts = np.searchsorted(user[order], user[order], side="left")
    rank = np.arange(len(user)) - starts
    sizes = np.bincount(user)[user[order]]
    take = rank < np.where(sizes >= 5, np.maximum(1, np.floor(share * sizes)), 0)
    held = np.zeros(len(user), bool)
    held[order[take]] = True
    return held


def baseline_only(user, item, rating, n_users, n_items, *, reg_u: float = 15.0,
                  reg_i: float = 10.0, epochs: int = 10):
    """(mean, user biases, item biases) by alternating least squares, Surprise's
    BaselineOnly defaults."""
    mean = float(rating.mean())
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(epochs):
        bi = np.bincount(item, rating - mean - bu[user], n_items) / (
            reg_i + np.bincount(item, minlength=n_items))
        bu = np.bincount(user, rating - mean - bi[item], n_users) / (
            reg_u + np.bincount(user, minlength=n_users))
    return mean, bu, bi


def errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    diff = predicted - actual
    return {"rmse": float(np.sqrt(np.mean(diff ** 2))), "mae": float(np.mean(np.abs(diff)))}


class RatingFit:
    """One rating model fitted to (user, item, rating) rows by MSE + L2 on the batch's
    vectors: the loop's Task (trainer/loop.py)."""

    rate_name = "ratings_per_s"

    def __init__(self, name: str, user: np.ndarray, item: np.ndarray, rating: np.ndarray,
                 users: Features, items: Features, cfg, *, mlp: list[int], gmf: bool,
                 validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        r = self.r = cfg["rate"]
        self.name, self.rows, self.validation = name, (user, item, rating), validation
        self.model = RatingModel(users, items, r["dim"], mean=float(rating.mean()), mlp=mlp,
                                 dropout=r["dropout"], gmf=gmf, seed=r["seed"],
                                 stddev=r["init_stddev"])
        self.optimizer = make_optimizer(r["optimizer"], r["learning_rate"])
        self.optimizer.build(self.model.trainable_variables)
        self.batch_size = r["batch_size"] or auto_batch_size(len(user), 512)
        self.steps_per_epoch = steps_per_epoch(len(user), self.batch_size)
        self.examples_per_step = min(self.batch_size, len(user))
        self.checkpoint = {"model": self.model, "optimizer": self.optimizer}
        self.train_step = self._make_step()

    def _make_step(self):
        model = self.model

        def loss_of(batch):
            predicted, users, items = model({"user": batch["query"], "item": batch["item"]},
                                            training=True)
            return tf.reduce_mean(tf.square(predicted - batch["rating"])), users, items
        return make_l2_step(model, self.optimizer, loss_of, self.r["l2"],
                            self.r["jit_compile"])

    def batches(self, epoch: int, first_step: int) -> tf.data.Dataset:
        return rating_batches(*self.rows, batch_size=self.batch_size, seed=self.r["seed"],
                              epoch=epoch, first_step=first_step)

    def evaluate(self) -> dict[str, float]:
        """The RMSE of the held-out validation ratings (what early stopping watches), if
        the model has them; the folds' test ratings are never looked at here."""
        if self.validation is None:
            return {}
        u, i, y = self.validation
        predicted = self.model.predict_pairs(u, i, float(y.min()), float(y.max()))
        return {"validation_rmse": float(np.sqrt(np.mean((predicted - y) ** 2)))}


class StepBudget:
    """`stop_after_steps` across the run's models: tests and benchmarks interrupt a run."""

    def __init__(self, steps: int | None) -> None:
        self.left = steps

    def fit(self, loop: EpochLoop) -> bool:
        """Fit within what is left; whether the model finished."""
        before = loop.state.global_step
        loop.fit(None if self.left is None else before + self.left)
        if self.left is not None:
            self.left -= loop.state.global_step - before
        return loop.finished


@dataclass
class RatingRun:
    """What every model of one rating run shares."""

    ratings: Ratings
    catalogue: Catalogue
    films: FilmsRun | None
    cfg: dict
    run_dir: Path
    resume: bool
    budget: StepBudget
    epochs: dict = field(default_factory=dict)  # each fitted model's epochs

    def fit(self, name: str, rows: np.ndarray, features: list[str], *, mlp: list[int],
            gmf: bool, epochs: int | None = None) -> RatingModel | None:
        """A model of `features` fitted to the ratings `rows` (checkpointed as `name`): with
        `epochs`, that many; else up to rate.epochs, early stopping on validation_share of
        the rows held out. None when the budget ran out first."""
        section = dict(self.cfg["rate"])
        validation = None
        if epochs is not None:
            section.update(epochs=epochs, early_stop_patience=0)
        elif section["validation_share"] > 0 and section["early_stop_patience"] > 0:
            held = validation_rows(self.ratings.user[rows], section["validation_share"],
                                   section["seed"])
            validation = tuple(a[rows[held]] for a in (self.ratings.user, self.ratings.item,
                                                       self.ratings.rating))
            rows = rows[~held]
        u, i, y = self.ratings.user[rows], self.ratings.item[rows], self.ratings.rating[rows]
        c = self.catalogue
        trained = np.zeros(c.n_items, bool)
        trained[i] = True
        users = user_features(["ids"], n_users=c.n_users, n_items=c.n_items, user=u, item=i)
        items = catalogue_features(features, c, trained, self.films,
                                   self.cfg["rank"]["link_min_items"])
        task = RatingFit(name, u, i, y, users, items, self.cfg, mlp=mlp, gmf=gmf,
                         validation=validation)
        monitor = "validation_rmse" if validation is not None else "loss"
        loop = EpochLoop(task, LoopSettings.of(section, monitor, higher_is_better=False),
                         checkpoints=self.run_dir / "checkpoints" / name,
                         logs=self.run_dir / "logs" / name, upstream="ratings")
        if self.resume and loop.manager.latest_checkpoint is not None:
            loop.resume()
        if not self.budget.fit(loop):
            return None
        self.epochs[name] = len(loop.history)
        return task.model


def evaluate_split(run: RatingRun, train: np.ndarray, test: np.ndarray, fold: int
                   ) -> tuple[dict, np.ndarray] | None:
    """({method: {rmse, mae}}, the model's test predictions) on one split; None when the
    budget ran out."""
    r = run.cfg["rate"]
    ratings, c = run.ratings, run.catalogue
    # Predictions are clipped to the stars the ratings use (MovieLens-100K: 1-5 of a 0.5-5
    # scale).
    low, high = float(ratings.rating.min()), float(ratings.rating.max())
    u, i, y = ratings.user, ratings.item, ratings.rating
    results = {}
    values, counts = np.unique(y[train], return_counts=True)
    results["most_common_rating"] = errors(np.full(len(test), values[counts.argmax()]), y[test])
    results["global_mean"] = errors(np.full(len(test), y[train].mean()), y[test])
    mean, bu, bi = baseline_only(u[train], i[train], y[train], c.n_users, c.n_items)
    results["baseline_only"] = errors(np.clip(mean + bu[u[test]] + bi[i[test]], low, high),
                                      y[test])
    mf = run.fit(f"fold{fold}-biased_mf", train, ["ids"], mlp=[], gmf=True)
    if mf is None:
        return None
    results["biased_mf"] = errors(mf.predict_pairs(u[test], i[test], low, high), y[test])
    model = run.fit(f"fold{fold}-model", train, r["features"],
                    mlp=r["mlp"] if r["mlp_branch"] else [], gmf=r["gmf"])
    if model is None:
        return None
    predicted = model.predict_pairs(u[test], i[test], low, high)
    results["model"] = errors(predicted, y[test])
    return results, predicted


def summarise(per_fold: list[dict]) -> dict:
    """{method: {rmse|mae: {mean, sd}}} over the folds."""
    return {m: {e: {"mean": float(np.mean([f[m][e] for f in per_fold])),
                    "sd": float(np.std([f[m][e] for f in per_fold]))}
                for e in ("rmse", "mae")} for m in per_fold[0]}


def export_model(run: RatingRun, final: RatingModel) -> None:
    """The model trained on every rating: users and items (vector, bias), the MLP's layers,
    and the id tables (index/rating.py scores from these)."""
    c = run.catalogue
    arrays = final.export(c.n_users, c.n_items)
    emb = run.run_dir / "embeddings"
    write_id_tables(emb, run.ratings, c, run.films)
    np.save(emb / "users.npy", arrays.pop("users"))
    np.save(emb / "items.npy", arrays.pop("items"))
    np.savez(emb / "mlp.npz", **arrays)


def write_predictions(run: RatingRun, test: np.ndarray, predicted: np.ndarray) -> None:
    ratings = run.ratings
    pq.write_table(pa.table({"user_id": pa.array(ratings.user[test], pa.int32()),
                             "item_id": pa.array(ratings.item[test], pa.int32()),
                             "rating": pa.array(ratings.rating[test], pa.float32()),
                             "predicted": pa.array(predicted, pa.float32())}),
                   run.run_dir / "predictions.parquet")


def write_results(run: RatingRun, summary: dict, per_fold: list[dict]) -> None:
    """metrics.json and each method's RMSE and MAE in TensorBoard (logs/evaluation)."""
    r = run.cfg["rate"]
    write_json(run.run_dir / "metrics.json",
               {"folds": r["folds"], "summary": summary, "per_fold": per_fold,
                "epochs": run.epochs, "features": list(r["features"]), "protocol": PROTOCOL})
    writer = tf.summary.create_file_writer(str(run.run_dir / "logs" / "evaluation"))
    with writer.as_default(step=max(1, r["folds"])):
        for method, values in summary.items():
            for measure, value in values.items():
                tf.summary.scalar(f"{measure}/{method}", value["mean"])
    writer.flush()


def rating_manifest(run: RatingRun, final: RatingModel, summary: dict, seconds: float) -> dict:
    r, ratings, films = run.cfg["rate"], run.ratings, run.films
    return build_manifest(
        RATING_KIND, RATING_SCHEMA_VERSION, run.cfg,
        ratings={"folder": str(Path(ratings.folder).resolve()), "id": ratings.manifest["id"],
                 "films_tables": ratings.manifest.get("films_tables")},
        films_run=({"folder": str(Path(films.folder).resolve()), "id": films.manifest["id"]}
                   if films else None),
        summary=summary,
        epochs=run.epochs,
        scale=rating_scale(ratings),
        predict={"mean": final.mean, "low": float(ratings.rating.min()),
                 "high": float(ratings.rating.max()), "gmf": bool(r["gmf"]),
                 "mlp_layers": len(final.hidden), "dim": int(r["dim"]),
                 "formula": "mean + users[u, dim] + items[i, dim] + users[u, :dim] . "
                            "items[i, :dim] (if gmf) + MLP([users[u, :dim], items[i, :dim]]) "
                            "(relu layers w0, b0 ..., then w_out, b_out), clipped to "
                            "[low, high]"},
        embeddings={"users": "embeddings/users.npy", "items": "embeddings/items.npy",
                    "mlp": "embeddings/mlp.npz", "user_ids": "embeddings/users.parquet",
                    "item_ids": "embeddings/items.parquet",
                    "rated_indptr": "embeddings/rated_indptr.npy",
                    "rated_items": "embeddings/rated_items.npy"},
        seconds=seconds)


def run(ratings_dir: str, run_dir: str | Path, cfg, *, films_run: str | None = None,
        resume: bool = False, overwrite: bool = False,
        stop_after_steps: int | None = None) -> dict | None:
    """Every fold, then the model on every rating, then the run folder (module docstring);
    the manifest, or None when stopped by `stop_after_steps`."""
    run_dir = Path(run_dir)
    started = time.perf_counter()
    r = cfg["rate"]
    if r["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    ratings, films = open_inputs(ratings_dir, films_run, run_dir, r["features"], "rate",
                                 resume=resume, overwrite=overwrite, kind=RATING_KIND)
    catalogue = load_catalogue(ratings)
    fold = user_folds(ratings.user, r["folds"], r["seed"])
    check_folds(ratings, fold, r["folds"])
    start_run_folder(run_dir, ratings, films_run, resume=resume, overwrite=overwrite,
                     kind=RATING_KIND)
    if resume:
        (run_dir / MANIFEST).unlink(missing_ok=True)  # unfinished again until written
    rating_run = RatingRun(ratings, catalogue, films, cfg, run_dir, resume,
                           StepBudget(stop_after_steps))
    per_fold = []
    for k in range(r["folds"]):
        test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        split = evaluate_split(rating_run, train, test, k + 1)
        if split is None:
            return None
        results, predicted = split
        logger.info("fold %d: %s", k + 1, ", ".join(f"{m} RMSE {v['rmse']:.4f} MAE "
                                                    f"{v['mae']:.4f}" for m, v in results.items()))
        per_fold.append(results)
        if k == 0:
            write_predictions(rating_run, test, predicted)
    summary = summarise(per_fold)
    # The exported model learns from every rating; the folds above only measure.
    # As many epochs as the first fold's model took (it had validation ratings; this one
    # learns from them all).
    final = rating_run.fit("final", np.arange(len(ratings.rating)), r["features"],
                           mlp=r["mlp"] if r["mlp_branch"] else [], gmf=r["gmf"],
                           epochs=rating_run.epochs.get("fold1-model"))
    if final is None:
        return None
    export_model(rating_run, final)
    write_results(rating_run, summary, per_fold)
    manifest = rating_manifest(rating_run, final, summary, time.perf_counter() - started)
    write_json(run_dir / MANIFEST, manifest)
    logger.info("rating run written to %s (manifest %s)", run_dir, manifest["id"][:8])
    return manifest
