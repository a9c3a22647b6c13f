"""film_pairs' rows made and summed in numpy, in the Python worker: executor-side, Spark-free.

A link on d films makes d(d-1)/2 pair rows before they are summed into (film_a, film_b,
shared, weight). As Spark rows (explode, hash aggregate, sort) they cost several times the
task time; here a task makes them as arrays, sorts them once and sums runs of equal pairs
(measured: bench/history/ingest.md). The same pairs, counts and weights (identical tables).

`LinkFilms` is what every task needs (broadcast): each used link's films in ascending order
and its idf. `pair_batches` is the body of a mapInArrow over (film_id, link_id) rows spread by
film: each film is paired with the later films of its links, where the film is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Never null: the Parquet columns say so, as when Spark's aggregation made them.
PAIR_SCHEMA = pa.schema([pa.field("film_a", pa.int32(), nullable=False),
                         pa.field("film_b", pa.int32(), nullable=False),
                         pa.field("shared", pa.int32(), nullable=False),
                         pa.field("weight", pa.float32(), nullable=False)])
PAIR_DDL = "film_a INT NOT NULL, film_b INT NOT NULL, shared INT NOT NULL, weight FLOAT NOT NULL"
# Pair rows made at once (before summing), whole films at a time: ~64 bytes a row at the
# peak (eight 8-byte arrays, counted, not measured); smaller blocks also sorted faster.
BLOCK_ROWS = 1_000_000


@dataclass(frozen=True)
class LinkFilms:
    """The used links' films. `keys` holds link_id * n_films + film_id of every (film, link)
    of a used link, ascending, so a link's films are one sorted run; `idf[link_id]` is
    ln(n_films / film_count) (0 for a link not used: it has no keys)."""

    keys: np.ndarray  # int64
    idf: np.ndarray  # float64, indexed by link_id
    n_films: int

    @classmethod
    def from_arrow(cls, members: pa.Table, n_films: int) -> LinkFilms:
        """From a table of (link_id, film_id, film_count) rows (transforms.pair_members)."""
        return cls.build(*(members.column(c).to_numpy() for c in ("link_id", "film_id",
                                                                   "film_count")), n_films)

    @classmethod
    def build(cls, link_ids, film_ids, film_counts, n_films: int) -> LinkFilms:
        """From the (link_id, film_id, film_count) rows of the used links' films."""
        links = np.asarray(link_ids, np.int64)
        counts = np.asarray(film_counts, np.float64)
        idf = np.zeros(int(links.max()) + 1 if len(links) else 0, np.float64)
        idf[links] = np.log(float(max(n_films, 1)) / counts)
        keys = np.sort(links * max(n_films, 1) + np.asarray(film_ids, np.int64))
        return cls(keys, idf, max(n_films, 1))


def film_pairs(films: np.ndarray, links: np.ndarray, index: LinkFilms, min_shared: int,
               block_rows: int = BLOCK_ROWS) -> Iterator[pa.RecordBatch]:
    """(film_id, link_id) rows -> PAIR_SCHEMA batches for every film among them: the later films
    it shares at least `min_shared` used links with, ascending by (film_a, film_b).

    Every row of a film must be here (the rows are spread by film). Rows of links that are not
    in `index` make no pairs.
    """
    order = np.lexsort((links, films))
    films, links = np.asarray(films, np.int64)[order], np.asarray(links, np.int64)[order]
    known = links < len(index.idf)
    films, links = films[known], links[known]
    if not len(films):
        return
    n = index.n_films
    # Each row's pair rows: its link's films after the row's film, from keys[start] on.
    start = np.searchsorted(index.keys, links * n + films, side="right")
    later = np.searchsorted(index.keys, (links + 1) * n, side="left") - start
    before = np.cumsum(later) - later  # pair rows of the rows before
    # Blocks of whole films: a row's block is that of its film's first row.
    first_row = np.flatnonzero(np.r_[True, films[1:] != films[:-1]])
    block = np.zeros(len(films), np.int64)
    block[first_row] = before[first_row] // block_rows
    block = np.maximum.accumulate(block)
    for lo, hi in _runs(block):
        yield from _summed(films[lo:hi], links[lo:hi], start[lo:hi], later[lo:hi], index,
                           min_shared)


def _runs(values: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) of each run of equal values."""
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    bounds = [0, *edges.tolist(), len(values)]
    yield from zip(bounds[:-1], bounds[1:], strict=False)


def _summed(films, links, start, later, index: LinkFilms,
            min_shared: int) -> Iterator[pa.RecordBatch]:
    rows = int(later.sum())
    if rows == 0:
        return
    n = index.n_films
    # Row i's pair rows take keys[start[i]] onwards: positions 0..rows-1, shifted per row.
    shift = np.repeat(start - (np.cumsum(later) - later), later)
    film_b = index.keys[np.arange(rows, dtype=np.int64) + shift] % n
    pair = np.repeat(films, later) * n + film_b
    weight = np.repeat(index.idf[links], later)
    # A stable sort: equal pairs' weights are summed in one fixed order, re-runs give the
    # same floats.
    order = np.argsort(pair, kind="stable")
    pair, weight = pair[order], weight[order]
    firsts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    shared = np.diff(np.r_[firsts, rows])
    weights = np.add.reduceat(weight, firsts)
    keep = shared >= min_shared
    pair = pair[firsts][keep]
    yield pa.RecordBatch.from_arrays(
        [pa.array((pair // n).astype(np.int32)), pa.array((pair % n).astype(np.int32)),
         pa.array(shared[keep].astype(np.int32)), pa.array(weights[keep].astype(np.float32))],
        schema=PAIR_SCHEMA,
    )


def pair_batches(batches: Iterable[pa.RecordBatch], index: LinkFilms,
                 min_shared: int) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: a task's (film_id, link_id) batches -> its films' pairs (PAIR_SCHEMA).
    The task's rows are taken in whole: a film's rows may arrive in different batches."""
    received = list(batches)
    if not received:
        return
    table = pa.Table.from_batches(received)
    yield from film_pairs(table.column("film_id").to_numpy(), table.column("link_id").to_numpy(),
                          index, min_shared)
