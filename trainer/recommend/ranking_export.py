"""Write the ranking run folder; the manifest last.

    embeddings/users.npy      float32 [n_users, dim + 1], last column 1
    embeddings/items.npy      float32 [n_items, dim + 1], last column the item's bias:
                              score(u, i) = users[u] . items[i], exactly as trained
    embeddings/users.parquet  user_id, source_id
    embeddings/items.parquet  item_id, source_id, title, year, genres, film_id, film_title
    embeddings/rated_indptr.npy, rated_items.npy
                              every item each user rated (CSR): what "not rated yet" excludes
    embeddings/history.npy    float32 [n_items, dim]: what rating an item adds to a user
                              (the users' "history" features; a new user is folded in
                              from them)
    split/train.parquet, validation.parquet, test.parquet   user_id, item_id, rating
    split/cold_items.parquet  item_id: held out of training entirely
    metrics.json              per-user AUC (warm and cold) of the model, the comparison
                              models and the baselines, per-epoch history, the protocol
    logs/                     TensorBoard scalars; projector: users, items, tags (genres)
    checkpoints/              the configured model, for --resume
    manifest.json             cites the ratings' and the films run's ids
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conf.manifest import RANKING_KIND, RANKING_SCHEMA_VERSION, build_manifest, write_json
from trainer.ratings import rating_scale
from trainer.recommend.features import item_link_matrix
from trainer.recommend.metrics import (
    ContentKNN,
    ItemKNN,
    Popularity,
    VectorScorer,
    interactions,
    mean_auc,
)

logger = logging.getLogger(__name__)

PROTOCOL = ("split: rank.cold_share of the linked items held out of training (cold), then "
            "rank.test_per_user test and rank.validation_per_user validation ratings a user "
            "(at most half of the user's ratings each), seeded by rank.seed; positives: "
            "ratings >= rank.min_rating. warm AUC: per user, test positives against every "
            "other non-cold item, the user's training items included; cold AUC: per user, "
            "positives among the cold items against the other cold items; both averaged over "
            "users with a positive (trainer/recommend/metrics.py)")


def _split_table(data, rows: np.ndarray) -> pa.Table:
    return pa.table({"user_id": pa.array(data.ratings.user[rows], pa.int32()),
                     "item_id": pa.array(data.ratings.item[rows], pa.int32()),
                     "rating": pa.array(data.ratings.rating[rows], pa.float32())})


def write_id_tables(emb: Path, ratings, catalogue, films) -> None:
    """items.parquet, users.parquet and the rated items of each user (CSR) into `emb`."""
    c = catalogue
    emb.mkdir(parents=True, exist_ok=True)
    film_title = [films.film_titles[f] if films is not None and f >= 0 else None
                  for f in c.item_film]
    pq.write_table(pa.table({
        "item_id": pa.array(np.arange(c.n_items, dtype=np.int32)),
        "source_id": pa.array(c.item_source, pa.string()),
        "title": pa.array(c.item_title, pa.string()),
        "year": pa.array(c.item_year, pa.int32()),
        "genres": pa.array(c.item_genres, pa.list_(pa.string())),
        "film_id": pa.array(np.where(c.item_film >= 0, c.item_film, None).tolist(), pa.int32()),
        "film_title": pa.array(film_title, pa.string()),
    }), emb / "items.parquet")
    pq.write_table(pa.table({"user_id": pa.array(np.arange(c.n_users, dtype=np.int32)),
                             "source_id": pa.array(c.user_source, pa.string())}),
                   emb / "users.parquet")
    rated = interactions(ratings.user, ratings.item, c.n_users, c.n_items)
    np.save(emb / "rated_indptr.npy", rated.indptr.astype(np.int64))
    np.save(emb / "rated_items.npy", rated.indices.astype(np.int32))


def write_tables(run_dir: Path, data) -> None:
    """The id tables, the rated items of each user, and the split."""
    write_id_tables(run_dir / "embeddings", data.ratings, data.catalogue, data.films)
    split_dir = run_dir / "split"
    split_dir.mkdir(parents=True, exist_ok=True)
    s = data.split
    for name, rows in (("train", s.train), ("validation", s.validation), ("test", s.test)):
        pq.write_table(_split_table(data, rows), split_dir / f"{name}.parquet")
    pq.write_table(pa.table({"item_id": pa.array(s.cold_items, pa.int32())}),
                   split_dir / "cold_items.parquet")


def evaluate_all(trainer, compared: dict, data, users: np.ndarray, items: np.ndarray) -> dict:
    """{task: {scorer: mean AUC}} for the model (its exported `users`, `items`), the
    comparison models and the baselines."""
    c = data.catalogue
    train = interactions(data.positives[:, 0], data.positives[:, 1], c.n_users, c.n_items)
    scorers = {"popularity": Popularity(train), "item_knn": ItemKNN(train)}
    if data.films is not None:
        f = data.films
        links = item_link_matrix(c.item_film, f.film_links, f.film_link_counts, f.n_films,
                                 len(f.link_titles))
        scorers["content_knn"] = ContentKNN(train, links)
    for name, other in compared.items():
        scorers[name] = VectorScorer(*other.vectors())
    model = scorers[trainer.name] = VectorScorer(users, items)
    auc = {task.name: {name: mean_auc(scorer, task) for name, scorer in scorers.items()}
           for task in (data.test, data.cold)}
    # How much the protocol's counting of training items as negatives costs: the same
    # scores with each user's training items ranked last.
    seen = interactions(data.ratings.user[data.split.train], data.ratings.item[data.split.train],
                        c.n_users, c.n_items)

    def training_items_last(users):
        scores = np.array(model(users), dtype=np.float64)
        scores[seen[users].toarray() > 0] = -np.inf
        return scores

    auc["test_training_items_last"] = {trainer.name: mean_auc(training_items_last, data.test)}
    return auc


def write_projector(logdir: Path, users: np.ndarray, items: np.ndarray, data, trainer,
                    max_points: int) -> None:
    """TensorBoard's projector: users, items (title, year, genres) and tags (genre vectors)."""
    from tensorboard.plugins import projector

    logdir.mkdir(parents=True, exist_ok=True)
    c = data.catalogue
    config = projector.ProjectorConfig()

    def add(name: str, vectors: np.ndarray, header: str, rows: list[str]) -> None:
        np.savetxt(logdir / f"{name}_vectors.tsv", vectors, delimiter="\t", fmt="%.5f")
        with open(logdir / f"{name}_metadata.tsv", "w", encoding="utf-8") as out:
            out.write(header + "\n")
            for row in rows:
                out.write(row.replace("\n", " ") + "\n")
        embedding = config.embeddings.add()
        embedding.tensor_name = name
        embedding.tensor_path = f"{name}_vectors.tsv"
        embedding.metadata_path = f"{name}_metadata.tsv"

    shown_items = np.arange(min(c.n_items, max_points))
    add("items", items[shown_items], "title\tyear\tgenres",
        [f"{c.item_title[i] or c.item_source[i]}\t{c.item_year[i] or ''}\t"
         f"{'|'.join(c.item_genres[i])}" for i in shown_items])
    shown_users = np.arange(min(c.n_users, max_points))
    add("users", users[shown_users], "user\tratings",
        [f"{c.user_source[u]}\t{n}" for u, n in
         zip(shown_users, np.bincount(data.ratings.user, minlength=c.n_users)[shown_users],
             strict=True)])
    lo, hi = trainer.features.groups.get("genres", (0, 0))
    if hi > lo:
        tags = trainer.model.items.table.embeddings.numpy()[lo:hi]
        add("tags", tags, "tag", [n.split(":", 1)[1] for n in trainer.features.names[lo:hi]])
    projector.visualize_embeddings(str(logdir), config)


def history_vectors(trainer) -> np.ndarray | None:
    """[n_items, dim]: what rating each item adds to a user's vector (the users' "history"
    features), or None when users are not made of their ratings. A new user's vector starts
    as the mean of the rows of the items they rated (index/ranking.py's fold-in)."""
    lo, hi = trainer.user_features.groups.get("history", (0, 0))
    if hi <= lo:
        return None
    return trainer.model.users.table.embeddings.numpy()[lo:hi].astype(np.float32)


def export_run(trainer, compared: dict, data, cfg, run_dir: Path, *, seconds: float) -> dict:
    """Everything in the module docstring, manifest last; returns the manifest."""
    import tensorflow as tf

    r = cfg["rank"]
    users, items = trainer.vectors()
    write_tables(run_dir, data)
    np.save(run_dir / "embeddings" / "users.npy", users)
    np.save(run_dir / "embeddings" / "items.npy", items)
    history = history_vectors(trainer)
    if history is not None:
        np.save(run_dir / "embeddings" / "history.npy", history)
    auc = evaluate_all(trainer, compared, data, users, items)
    for task, values in auc.items():
        logger.info("%s AUC: %s", task, ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    writer = tf.summary.create_file_writer(str(run_dir / "logs" / "evaluation"))
    with writer.as_default(step=len(trainer.state.history)):
        for task, values in auc.items():
            for name, value in values.items():
                if np.isfinite(value):
                    tf.summary.scalar(f"{task}_auc/{name}", value)
    writer.flush()
    counts = {"users": data.catalogue.n_users, "items": data.catalogue.n_items,
              "cold_items": len(data.split.cold_items),
              "train_positives": len(data.positives), "test_users": len(data.test.users),
              "cold_users": len(data.cold.users), "features": trainer.features.n_features}
    metrics = {"model": trainer.name, "auc": auc, "history": trainer.state.history,
               "compared_history": {k: v.state.history for k, v in compared.items()},
               "counts": counts, "protocol": PROTOCOL}
    write_json(run_dir / "metrics.json", metrics)
    write_projector(run_dir / "logs", users, items, data, trainer,
                    cfg["export"]["projector_max_points"])
    films = data.films
    manifest = build_manifest(
        RANKING_KIND, RANKING_SCHEMA_VERSION, cfg,
        ratings={"folder": str(Path(data.ratings.folder).resolve()),
                 "id": data.ratings.manifest["id"],
                 "films_tables": data.ratings.manifest.get("films_tables")},
        films_run=({"folder": str(Path(films.folder).resolve()), "id": films.manifest["id"],
                    "tables": films.manifest["tables"]} if films else None),
        model=r["loss"],
        features=list(r["features"]),
        dim=int(items.shape[1]),
        score="users[u] . items[i] (the items' last column is their bias, the users' is 1)",
        embeddings={"users": "embeddings/users.npy", "items": "embeddings/items.npy",
                    "user_ids": "embeddings/users.parquet",
                    "item_ids": "embeddings/items.parquet",
                    "rated_indptr": "embeddings/rated_indptr.npy",
                    "rated_items": "embeddings/rated_items.npy",
                    **({"history": "embeddings/history.npy"} if history is not None else {})},
        min_rating=r["min_rating"],
        scale=rating_scale(data.ratings),
        split={name: f"split/{name}.parquet"
               for name in ("train", "validation", "test", "cold_items")},
        counts=counts,
        auc=auc,
        epochs=len(trainer.state.history),
        seconds=seconds,
    )
    write_json(run_dir / "manifest.json", manifest)
    logger.info("ranking run written to %s (manifest %s)", run_dir, manifest["id"][:8])
    return manifest

