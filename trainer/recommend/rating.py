"""The rating run: ratings (+ a films run) -> folds -> rating model and baselines -> run folder.

    run(ratings_dir, run_dir, cfg, films_run=None, overwrite=False) -> manifest

Protocol (docs/recommend.md): each user's ratings are dealt at random (seeded by
`rate.seed`) into `rate.folds` folds; with one fold, 20 % of each user's ratings are the test
(a seeded 80/20 split of each user's ratings), with k > 1 each fold is the test once (k-fold
cross-validation, mean and sd). On each split, in the same run: the model of `rate.features`,
the baselines people compare against (global mean; user and item biases as Surprise's
BaselineOnly, by alternating least squares; a biased matrix factorisation, ids only, as
Surprise's SVD; the most common rating), RMSE and MAE of predictions clipped to the scale.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from conf.manifest import RATING_KIND, RATING_SCHEMA_VERSION, write_json
from conf.version import code_version
from trainer.optimizers import make_optimizer
from trainer.ratings import Catalogue, Ratings, RatingsError, load_catalogue, rating_scale
from trainer.recommend.export import write_id_tables
from trainer.recommend.features import Features, user_features
from trainer.recommend.inputs import FilmsRun, check_trainable, open_inputs, start_run_folder
from trainer.recommend.rating_model import RatingModel
from trainer.recommend.train import features_for

logger = logging.getLogger(__name__)

def user_folds(user: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """int [n]: the fold of each rating; each user's ratings dealt at random over the folds
    (with one fold: 20 % of each user's ratings in fold 0, the test)."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(user)), user))
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


@dataclass
class _ItemsData:
    """What features_for reads (duck-typed like RankingData)."""

    catalogue: Catalogue
    trained_items: np.ndarray
    films: FilmsRun | None


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


def train_model(user, item, rating, users: Features, items: Features, cfg, *, mlp: list[int],
                gmf: bool = True, name: str = "model", run_dir: Path | None = None) -> RatingModel:
    """A RatingModel fitted to the rows by MSE (+ L2 on the batch's vectors), rate.epochs."""
    r = cfg["rate"]
    model = RatingModel(users, items, r["dim"], mean=float(rating.mean()), mlp=mlp,
                        dropout=r["dropout"], gmf=gmf, seed=r["seed"], stddev=r["init_stddev"])
    optimizer = make_optimizer(r["optimizer"], r["learning_rate"])
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(u, i, y):
        with tf.GradientTape() as tape:
            predicted, uv, iv = model({"user": u, "item": i}, training=True)
            loss = tf.reduce_mean(tf.square(predicted - y))
            reg = r["l2"] * (tf.reduce_mean(tf.reduce_sum(uv * uv, -1))
                             + tf.reduce_mean(tf.reduce_sum(iv * iv, -1)))
            total = (loss + reg) * tf.cast(tf.shape(y)[0], tf.float32)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return loss

    data = tf.data.Dataset.from_tensor_slices((user.astype(np.int32), item.astype(np.int32),
                                               rating.astype(np.float32)))
    writer = (tf.summary.create_file_writer(str(run_dir / "logs" / name)) if run_dir else None)
    for epoch in range(r["epochs"]):
        started = time.perf_counter()
        batches = data.shuffle(len(user), seed=r["seed"] + epoch).batch(r["batch_size"])
        losses = [float(step(u, i, y)) for u, i, y in batches]
        logger.info("%s epoch %d: MSE %.4f  %.1f s", name, epoch + 1, np.mean(losses),
                    time.perf_counter() - started)
        if writer:
            with writer.as_default(step=epoch + 1):
                tf.summary.scalar("train_mse", float(np.mean(losses)))
    return model


def evaluate_split(ratings: Ratings, catalogue: Catalogue, films: FilmsRun | None,
                   train: np.ndarray, test: np.ndarray, cfg, run_dir: Path | None = None
                   ) -> tuple[dict, RatingModel, np.ndarray]:
    """{method: {rmse, mae}} on one split, the model, and its test predictions."""
    r = cfg["rate"]
    # Predictions are clipped to the stars the ratings use (MovieLens-100K: 1-5 of a
    # 0.5-5 scale), as before the source's scale was known.
    low, high = float(ratings.rating.min()), float(ratings.rating.max())
    u, i, y = ratings.user, ratings.item, ratings.rating
    n_users, n_items = catalogue.n_users, catalogue.n_items
    trained = np.zeros(n_items, bool)
    trained[i[train]] = True
    items_data = _ItemsData(catalogue, trained, films)
    users = user_features(["ids"], n_users=n_users, n_items=n_items, user=u[train],
                          item=i[train])
    results = {}
    values, counts = np.unique(y[train], return_counts=True)
    results["most_common_rating"] = errors(np.full(len(test), values[counts.argmax()]), y[test])
    results["global_mean"] = errors(np.full(len(test), y[train].mean()), y[test])
    mean, bu, bi = baseline_only(u[train], i[train], y[train], n_users, n_items)
    results["baseline_only"] = errors(np.clip(mean + bu[u[test]] + bi[i[test]], low, high),
                                      y[test])
    ids = features_for(items_data, ["ids"], cfg)
    mf = train_model(u[train], i[train], y[train], users, ids, cfg, mlp=[], name="biased_mf")
    results["biased_mf"] = errors(mf.predict_pairs(u[test], i[test], low, high), y[test])
    model = train_model(u[train], i[train], y[train], users,
                        features_for(items_data, r["features"], cfg), cfg,
                        mlp=r["mlp"] if r["mlp_branch"] else [],
                        gmf=r["gmf"], name="model", run_dir=run_dir)
    predicted = model.predict_pairs(u[test], i[test], low, high)
    results["model"] = errors(predicted, y[test])
    return results, model, predicted


def run(ratings_dir: str, run_dir: str | Path, cfg, *, films_run: str | None = None,
        overwrite: bool = False) -> dict:
    """Every fold (module docstring); the run folder's manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    started = time.perf_counter()
    r = cfg["rate"]
    if r["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    ratings, films = open_inputs(ratings_dir, films_run, run_dir, r["features"], "rate",
                                 resume=False, overwrite=overwrite, kind=RATING_KIND)
    catalogue = load_catalogue(ratings)
    fold = user_folds(ratings.user, r["folds"], r["seed"])
    check_folds(ratings, fold, r["folds"])
    start_run_folder(run_dir, ratings, films_run, resume=False, overwrite=overwrite,
                     kind=RATING_KIND)
    per_fold, first = [], None
    for k in range(max(1, r["folds"])):
        test, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        results, model, predicted = evaluate_split(ratings, catalogue, films, train, test, cfg,
                                                   run_dir if k == 0 else None)
        logger.info("fold %d: %s", k + 1, ", ".join(f"{m} RMSE {v['rmse']:.4f} MAE "
                                                    f"{v['mae']:.4f}" for m, v in results.items()))
        per_fold.append(results)
        if first is None:
            first = (test, predicted)
    summary = {m: {e: {"mean": float(np.mean([f[m][e] for f in per_fold])),
                       "sd": float(np.std([f[m][e] for f in per_fold]))}
                   for e in ("rmse", "mae")} for m in per_fold[0]}
    # The exported model learns from every rating; the folds above only measure.
    rated = np.bincount(ratings.item, minlength=catalogue.n_items) > 0
    final = train_model(ratings.user, ratings.item, ratings.rating,
                        user_features(["ids"], n_users=catalogue.n_users,
                                      n_items=catalogue.n_items, user=ratings.user,
                                      item=ratings.item),
                        features_for(_ItemsData(catalogue, rated, films), r["features"], cfg),
                        cfg, mlp=r["mlp"] if r["mlp_branch"] else [], gmf=r["gmf"],
                        name="final")
    arrays = final.export(catalogue.n_users, catalogue.n_items)
    emb = run_dir / "embeddings"
    write_id_tables(emb, ratings, catalogue, films)
    np.save(emb / "users.npy", arrays.pop("users"))
    np.save(emb / "items.npy", arrays.pop("items"))
    np.savez(emb / "mlp.npz", **arrays)
    test, predicted = first
    pq.write_table(pa.table({"user_id": pa.array(ratings.user[test], pa.int32()),
                             "item_id": pa.array(ratings.item[test], pa.int32()),
                             "rating": pa.array(ratings.rating[test], pa.float32()),
                             "predicted": pa.array(predicted, pa.float32())}),
                   run_dir / "predictions.parquet")
    metrics = {"folds": r["folds"], "summary": summary, "per_fold": per_fold,
               "features": list(r["features"]),
               "protocol": __doc__.split("Protocol", 1)[1].strip()}
    write_json(run_dir / "metrics.json", metrics)
    writer = tf.summary.create_file_writer(str(run_dir / "logs" / "evaluation"))
    with writer.as_default(step=max(1, r["folds"])):
        for method, values in summary.items():
            for measure, value in values.items():
                tf.summary.scalar(f"{measure}/{method}", value["mean"])
    writer.flush()
    manifest = {"kind": RATING_KIND, "schema_version": RATING_SCHEMA_VERSION,
                "id": uuid.uuid4().hex,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "ratings": {"folder": str(Path(ratings.folder).resolve()),
                            "id": ratings.manifest["id"],
                            "films_tables": ratings.manifest.get("films_tables")},
                "films_run": ({"folder": str(Path(films.folder).resolve()),
                               "id": films.manifest["id"]} if films else None),
                "summary": summary,
                "scale": rating_scale(ratings),
                "predict": {"mean": final.mean, "low": float(ratings.rating.min()),
                            "high": float(ratings.rating.max()), "gmf": bool(r["gmf"]),
                            "mlp_layers": len(final.hidden), "dim": int(r["dim"]),
                            "formula": "mean + users[u, dim] + items[i, dim] + users[u, :dim] . "
                                       "items[i, :dim] (if gmf) + MLP([users[u, :dim], "
                                       "items[i, :dim]]) (relu layers w0, b0 ..., then w_out, "
                                       "b_out), clipped to [low, high]"},
                "embeddings": {"users": "embeddings/users.npy", "items": "embeddings/items.npy",
                               "mlp": "embeddings/mlp.npz",
                               "user_ids": "embeddings/users.parquet",
                               "item_ids": "embeddings/items.parquet",
                               "rated_indptr": "embeddings/rated_indptr.npy",
                               "rated_items": "embeddings/rated_items.npy"},
                "config": cfg.to_dict(), "code_version": code_version(),
                "seconds": time.perf_counter() - started}
    write_json(run_dir / "manifest.json", manifest)
    return manifest
