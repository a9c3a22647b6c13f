"""Read the tables that spark_jobs wrote, and split each film's links into train and held-out.

pyarrow only: the trainer never imports PySpark. A folder without a finished manifest, a table
whose columns or types differ from the contract in DESIGN.md, or an empty table is refused with
one line naming the folder and what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conf.errors import WikifilmsError
from conf.manifest import MANIFEST, TABLES_KIND, TABLES_SCHEMA_VERSION, read_manifest

logger = logging.getLogger(__name__)


# The columns the trainer reads, with the Arrow types the ingestion job writes.
REQUIRED_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "films": {"film_id": pa.int32(), "title": pa.string(), "n_links": pa.int32()},
    "links": {"link_id": pa.int32(), "title": pa.string(), "film_count": pa.int32(),
              "film_id": pa.int32()},
    "film_links": {"film_id": pa.int32(), "link_id": pa.int32(), "count": pa.int32()},
}
# Infobox columns the run folder's id -> title tables carry when present (year, director).
ATTRIBUTE_COLUMNS = ("director", "year")


class TablesError(WikifilmsError, ValueError):
    """Tables the trainer cannot use; the message names the folder and the fix."""


@dataclass
class Tables:
    """The tables as numpy arrays, indexed by the dense ids the ingestion job assigned."""

    folder: str
    manifest: dict
    film_titles: list[str]
    link_titles: list[str]
    link_film_count: np.ndarray  # int64 [n_links]
    link_film_id: np.ndarray  # int32 [n_links], -1 where the link is not a film
    film_links: np.ndarray  # int32 [n, 2]: film_id, link_id
    film_link_counts: np.ndarray  # int32 [n]
    film_attributes: dict[str, list] = field(default_factory=dict)  # column -> per-film values

    @property
    def n_films(self) -> int:
        return len(self.film_titles)

    @property
    def n_links(self) -> int:
        return len(self.link_titles)


def read_tables_manifest(folder: str | Path) -> dict:
    """The manifest of a finished tables folder, or TablesError."""
    return read_manifest(folder, TABLES_KIND, TABLES_SCHEMA_VERSION, "tables",
                         "run `python -m spark_jobs.parse_dump` to produce it", TablesError)


def _read(folder: Path, name: str, manifest: dict, extra: tuple[str, ...] = ()) -> pa.Table:
    if name not in manifest.get("tables", {}):
        raise TablesError(f"{folder}/{MANIFEST} lists no {name!r} table; re-run the ingestion job")
    path = folder / manifest["tables"][name]["path"]
    try:
        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
    except (OSError, pa.ArrowInvalid) as e:
        raise TablesError(f"{path}: cannot read the {name} table ({e})") from e
    wanted = REQUIRED_COLUMNS[name]
    for column, dtype in wanted.items():
        if column not in schema.names:
            raise TablesError(f"{path}: the {name} table has no column {column!r} "
                              f"(has {', '.join(schema.names)}); re-run the ingestion job")
        if schema.field(column).type != dtype:
            raise TablesError(f"{path}: {name}.{column} is {schema.field(column).type}, "
                              f"expected {dtype}; the tables come from another version")
    columns = list(wanted) + [c for c in extra if c in schema.names]
    table = pq.read_table(path, columns=columns)
    if table.num_rows == 0:
        raise TablesError(f"{path}: the {name} table is empty; the dump held no usable films "
                          "(check the dump and links.min_film_count)")
    return table


def _check_dense(folder: Path, name: str, ids: np.ndarray) -> np.ndarray:
    """Rows sorted by id; ids must be exactly 0..n-1 (they are embedding rows)."""
    order = np.argsort(ids, kind="stable")
    if not np.array_equal(ids[order], np.arange(len(ids))):
        raise TablesError(f"{folder}/{name}: ids are not dense 0..{len(ids) - 1}")
    return order


def load_tables(folder: str | Path) -> Tables:
    """Read films, links and film_links into a Tables, checking the contract."""
    folder = Path(folder)
    manifest = read_tables_manifest(folder)
    films = _read(folder, "films", manifest, ATTRIBUTE_COLUMNS)
    links = _read(folder, "links", manifest)
    film_links = _read(folder, "film_links", manifest)

    film_order = _check_dense(folder, "films", films["film_id"].to_numpy())
    films = films.take(film_order)
    link_order = _check_dense(folder, "links", links["link_id"].to_numpy())
    links = links.take(link_order)

    pairs = np.stack([film_links["film_id"].to_numpy(), film_links["link_id"].to_numpy()], axis=1)
    if (pairs.min() < 0 or pairs[:, 0].max() >= films.num_rows
            or pairs[:, 1].max() >= links.num_rows):
        raise TablesError(f"{folder}/film_links: ids outside films/links; the tables are mixed up")
    tables = Tables(
        folder=str(folder),
        manifest=manifest,
        film_titles=films["title"].to_pylist(),
        link_titles=links["title"].to_pylist(),
        link_film_count=links["film_count"].to_numpy().astype(np.int64),
        link_film_id=links["film_id"].fill_null(-1).to_numpy().astype(np.int32),
        film_links=pairs.astype(np.int32),
        film_link_counts=film_links["count"].fill_null(1).to_numpy().astype(np.int32),
        film_attributes={c: films[c].to_pylist()
                         for c in ATTRIBUTE_COLUMNS if c in films.column_names},
    )
    logger.info("tables %s: %d films, %d links, %d film-link pairs", folder, tables.n_films,
                tables.n_links, len(pairs))
    return tables


def _hash_rank(film: np.ndarray, link: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 64-bit mix of (film, link): a fixed pseudo-random order within each film.

    Independent of row order and of the number of films, so the same link of the same film is
    held out whatever else the tables hold.
    """
    x = (film.astype(np.uint64) << np.uint64(32)) | link.astype(np.uint64)
    x ^= np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    with np.errstate(over="ignore"):  # splitmix64: wrapping multiplications are the point
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def split_holdout(film_links: np.ndarray, fraction: float, min_links: int,
                  seed: int) -> np.ndarray:
    """A boolean mask over film_links rows: True = held out for evaluation.

    Each film with at least `min_links` links holds out round(fraction * n) of them (at least
    one), chosen by a seeded hash of (film, link): deterministic, and the same across runs.
    """
    n = len(film_links)
    held = np.zeros(n, dtype=bool)
    if fraction <= 0 or n == 0:
        return held
    film, link = film_links[:, 0], film_links[:, 1]
    order = np.lexsort((_hash_rank(film, link, seed), film))
    sorted_film = film[order]
    starts = np.flatnonzero(np.r_[True, sorted_film[1:] != sorted_film[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    size = np.repeat(sizes, sizes)
    quota = np.where(size >= min_links, np.maximum(1, np.rint(size * fraction)), 0)
    held[order] = rank < quota
    return held


def heldout_mask(tables: Tables, cfg) -> np.ndarray:
    """`split_holdout` of the tables' film_links with the run's [train] settings."""
    t = cfg["train"]
    return split_holdout(tables.film_links, t["holdout_fraction"], t["min_links_for_holdout"],
                         t["seed"])
