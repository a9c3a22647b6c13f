"""A small ratings folder in spark_jobs.ratings' format, written with pyarrow (no Spark), over
the films of tests/synthetic_tables.py: each user likes one cluster ("franchise") of films.

Item i is film i (linked), titled like MovieLens ("Film i (cluster c) (1990)"); its genre is
its cluster modulo 4. Each user rates `liked` films of their cluster 5 stars and `other`
films of other clusters 1 or 2 stars.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def franchise_ratings(n_clusters: int = 8, films_per_cluster: int = 25,
                      users_per_cluster: int = 12, liked: int = 12, other: int = 4,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, item, rating) arrays; user u likes cluster u % n_clusters."""
    rng = np.random.default_rng(seed)
    n_films = n_clusters * films_per_cluster
    rows = []
    for u in range(n_clusters * users_per_cluster):
        cluster = u % n_clusters
        own = cluster * films_per_cluster + rng.choice(films_per_cluster, liked, replace=False)
        elsewhere = rng.choice([f for f in range(n_films) if f // films_per_cluster != cluster],
                               other, replace=False)
        rows += [(u, int(f), 5.0) for f in own] + [(u, int(f), float(rng.integers(1, 3)))
                                                    for f in elsewhere]
    user, item, rating = (np.array(c) for c in zip(*rows, strict=True))
    return user.astype(np.int32), item.astype(np.int32), rating.astype(np.float32)


def write_ratings(folder: Path, tables_id: str, user: np.ndarray, item: np.ndarray,
                  rating: np.ndarray, n_items: int, films_per_cluster: int = 25) -> Path:
    """The ratings, items and users tables and a finished manifest citing `tables_id`."""
    n_users = int(user.max(initial=-1)) + 1
    tables = {
        "ratings": pa.table({"user_id": pa.array(user, pa.int32()),
                             "item_id": pa.array(item, pa.int32()),
                             "rating": pa.array(rating, pa.float32()),
                             "timestamp": pa.array(np.arange(len(user)), pa.int64())}),
        "items": pa.table({
            "item_id": pa.array(np.arange(n_items, dtype=np.int32)),
            "source_id": [str(i + 1) for i in range(n_items)],
            "title": [f"Film {i} (cluster {i // films_per_cluster}) (1990)"
                      for i in range(n_items)],
            "year": pa.array(np.full(n_items, 1990), pa.int32()),
            "genres": [[f"Genre {(i // films_per_cluster) % 4}"] for i in range(n_items)],
            "film_id": pa.array(np.arange(n_items, dtype=np.int32)),
            "linked_by": ["title and year"] * n_items}),
        "users": pa.table({"user_id": pa.array(np.arange(n_users, dtype=np.int32)),
                           "source_id": [str(u + 1) for u in range(n_users)]}),
    }
    for name, table in tables.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name / "part-00000.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.ratings", "schema_version": 1, "id": uuid.uuid4().hex,
        "films_tables": {"folder": "synthetic", "id": tables_id},
        "tables": {name: {"path": name, "rows": t.num_rows, "columns": t.column_names}
                   for name, t in tables.items()},
    }))
    return folder
