"""Small tables in the ingestion job's format, written with pyarrow (no Spark), with planted
clusters: films of a cluster link mostly to that cluster's links, so a model that learns
anything ranks a film's held-out links well above random ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_tables(folder: Path, n_clusters: int = 8, films_per_cluster: int = 25,
                 links_per_cluster: int = 20, links_per_film: int = 10, seed: int = 0,
                 manifest: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    n_films = n_clusters * films_per_cluster
    n_links = n_clusters * links_per_cluster + 10  # + 10 general links any film may have
    rows = []
    for film in range(n_films):
        cluster = film // films_per_cluster
        own = cluster * links_per_cluster + rng.choice(links_per_cluster, links_per_film - 2,
                                                       replace=False)
        general = n_clusters * links_per_cluster + rng.choice(10, 2, replace=False)
        rows += [(film, int(link)) for link in np.concatenate([own, general])]
    pairs = np.array(rows, dtype=np.int32)
    folder.mkdir(parents=True, exist_ok=True)
    film_count = np.bincount(pairs[:, 1], minlength=n_links).astype(np.int32)
    tables = {
        "films": pa.table({
            "film_id": pa.array(np.arange(n_films, dtype=np.int32)),
            "page_id": pa.array(np.arange(n_films, dtype=np.int64) + 100),
            "title": [f"Film {i} (cluster {i // films_per_cluster})" for i in range(n_films)],
            "director": [[f"Director {i // films_per_cluster}"] for i in range(n_films)],
            "starring": [[f"Actor {i % 7}", f"Actor {i // films_per_cluster + 7}"]
                         for i in range(n_films)],
            "year": pa.array([1950 + (i % 60) for i in range(n_films)], pa.int32()),
            "n_links": pa.array(np.full(n_films, links_per_film, dtype=np.int32)),
        }),
        "links": pa.table({
            "link_id": pa.array(np.arange(n_links, dtype=np.int32)),
            "title": [f"Link {i}" if i % 5 else f"Category:Link {i}" for i in range(n_links)],
            "film_count": pa.array(film_count),
            "film_id": pa.array([None] * n_links, pa.int32()),
        }),
        "film_links": pa.table({
            "film_id": pa.array(pairs[:, 0]),
            "link_id": pa.array(pairs[:, 1]),
            "count": pa.array(rng.integers(1, 4, len(pairs)).astype(np.int32)),
        }),
    }
    same = [(a, b) for a in range(n_films) for b in range(a + 1, n_films)
            if a // films_per_cluster == b // films_per_cluster]
    fp = np.array(same, dtype=np.int32)
    tables["film_pairs"] = pa.table({
        "film_a": pa.array(fp[:, 0]), "film_b": pa.array(fp[:, 1]),
        "shared": pa.array(np.full(len(fp), 4, np.int32)),
        "weight": pa.array(np.ones(len(fp), np.float32)),
    })
    # Each film's title without its "(cluster c)" qualifier redirects to it.
    tables["redirects"] = pa.table({
        "source": [f"Film {i}" for i in range(n_films)],
        "target": [f"Film {i} (cluster {i // films_per_cluster})" for i in range(n_films)],
        "hops": pa.array(np.ones(n_films, np.int32)),
    })
    for name, table in tables.items():
        (folder / name).mkdir(exist_ok=True)
        pq.write_table(table, folder / name / "part-00000.parquet")
    if manifest:
        (folder / "manifest.json").write_text(json.dumps({
            "kind": "wikifilms.tables", "schema_version": 1, "id": f"synthetic-{seed}",
            "tables": {name: {"path": name, "rows": t.num_rows, "columns": t.column_names}
                       for name, t in tables.items()},
        }))
    return folder
