"""Synthetic inputs of the index: a run folder in the trainer's export format (trainer/export.py)
and a tables folder's redirects and film_links, written with numpy and pyarrow, so the index's
tests and benchmark place the vectors by hand and never import TensorFlow; clustered vectors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_tables_with_redirects(folder: Path, redirects: dict[str, str]) -> Path:
    """A tables folder holding only what the index reads: the manifest and redirects."""
    (folder / "redirects").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"source": list(redirects), "target": list(redirects.values()),
                             "hops": pa.array([1] * len(redirects), pa.int32())}),
                   folder / "redirects" / "part-00000.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.tables", "schema_version": 1, "id": f"tables-{uuid.uuid4().hex}"}))
    return folder


def add_film_links(tables: Path, rows: list[tuple[int, int, int]]) -> Path:
    """Add a film_links table (film_id, link_id, count) to a tables folder and its manifest."""
    film, link, count = (np.array(c, dtype=np.int32) for c in zip(*rows, strict=True))
    return add_film_link_arrays(tables, film, link, count)


def add_film_link_arrays(tables: Path, film: np.ndarray, link: np.ndarray,
                         count: np.ndarray) -> Path:
    """add_film_links from three columns (millions of rows without Python tuples)."""
    (tables / "film_links").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"film_id": film.astype(np.int32), "link_id": link.astype(np.int32),
                             "count": count.astype(np.int32)}),
                   tables / "film_links" / "part-00000.parquet")
    manifest = json.loads((tables / "manifest.json").read_text())
    manifest.setdefault("tables", {})["film_links"] = {"path": "film_links", "rows": len(film)}
    (tables / "manifest.json").write_text(json.dumps(manifest))
    return tables


def write_run(folder: Path, films: np.ndarray, film_titles: list[str], links: np.ndarray,
              link_titles: list[str], tables: Path | None = None,
              years: list[int | None] | None = None,
              directors: list[str | None] | None = None,
              film_map: np.ndarray | None = None) -> Path:
    """A finished run folder with these vectors (normalised here), titles and optionally the
    films' 2-D map coordinates."""
    emb = folder / "embeddings"
    emb.mkdir(parents=True, exist_ok=True)

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            return x
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    np.save(emb / "films.npy", unit(films))
    np.save(emb / "links.npy", unit(links))
    n, m = len(film_titles), len(link_titles)
    pq.write_table(pa.table({
        "film_id": pa.array(np.arange(n, dtype=np.int32)),
        "title": pa.array(film_titles, pa.string()),
        "year": pa.array(years or [None] * n, pa.int32()),
        "director": pa.array(directors or [None] * n, pa.string()),
        "n_links": pa.array(np.full(n, 5, dtype=np.int32)),
    }), emb / "films.parquet")
    pq.write_table(pa.table({
        "link_id": pa.array(np.arange(m, dtype=np.int32)),
        "title": pa.array(link_titles, pa.string()),
        "film_count": pa.array(np.full(m, 3, dtype=np.int32)),
        "film_id": pa.array([None] * m, pa.int32()),
    }), emb / "links.parquet")
    embeddings = {"films": "embeddings/films.npy", "links": "embeddings/links.npy",
                  "film_titles": "embeddings/films.parquet",
                  "link_titles": "embeddings/links.parquet", "normalized": True}
    if film_map is not None:
        np.save(emb / "films_map.npy", np.asarray(film_map, dtype=np.float32))
        embeddings["film_map"] = "embeddings/films_map.npy"
    tables_id = "none"
    if tables is not None:
        tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    dim = int(np.shape(films)[1]) if np.ndim(films) == 2 else 0
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.run", "schema_version": 1, "id": uuid.uuid4().hex,
        "tables": {"folder": str(tables or folder / "no-tables"), "id": tables_id},
        "dim": dim, "counts": {"films": n, "links": m},
        "embeddings": embeddings,
        **({"film_map": {"method": "given"}} if film_map is not None else {}),
    }))
    return folder


def clustered_vectors(n: int, dim: int, clusters: int, spread: float, seed: int) -> np.ndarray:
    """L2-normalised points around `clusters` random centres (noise `spread` per coordinate
    against unit-variance centres): the synthetic set of the benchmark and the tests."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, n)]
    points += spread * rng.standard_normal((n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)
