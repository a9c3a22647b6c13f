"""The films' sparse link vectors, kept in the index to re-rank "films like X" exactly.

A film is its links, each weighted log(1 + times the article links it) x idf, idf =
log(films / films linking to it), the row L2-normalised: the cosine of two rows is the
weighted share of what the two articles link to. `films like X` scores a film by
`index.vector_weight` x the cosine of the learned vectors + the rest x this cosine (query.py):
the vectors bring what links have in common across films, the sparse rows the exact facts
two films share (a cast, a director); each alone finds fewer sequels than the two together
(docs/quality.md).

Stored as two CSR layouts of the same weights, memory-mapped .npy files (numpy only, as the
rest of the query path): by film (a query's own links) and by link (the films that share
one); scoring every film that shares a link with the query is a bincount over the query's
links' film lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# role -> file name; listed in the index manifest with the other files.
FILES = {
    "film_indptr": "films_colink_indptr.npy", "film_links": "films_colink_links.npy",
    "film_weights": "films_colink_weights.npy", "link_indptr": "links_colink_indptr.npy",
    "link_films": "links_colink_films.npy", "link_weights": "links_colink_weights.npy",
}


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int):
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, cols[order].astype(np.int32), values[order].astype(np.float32)


def build_arrays(film: np.ndarray, link: np.ndarray, count: np.ndarray, n_films: int,
                 n_links: int) -> dict[str, np.ndarray]:
    """The FILES arrays from film_links rows (film_id, link_id, count)."""
    film_count = np.bincount(link, minlength=n_links).astype(np.float64)
    idf = np.log(n_films / np.maximum(film_count, 1.0))
    weight = np.log1p(np.maximum(count, 1).astype(np.float64)) * idf[link]
    norms = np.sqrt(np.bincount(film, weights=weight * weight, minlength=n_films))
    weight = weight / np.maximum(norms[film], 1e-12)
    film_indptr, film_links, film_weights = _csr(film, link, weight, n_films)
    link_indptr, link_films, link_weights = _csr(link, film, weight, n_links)
    return {"film_indptr": film_indptr, "film_links": film_links, "film_weights": film_weights,
            "link_indptr": link_indptr, "link_films": link_films, "link_weights": link_weights}


def write(folder: Path, arrays: dict[str, np.ndarray]) -> list[str]:
    """Save the arrays as FILES in `folder`; returns the file names."""
    for role, name in FILES.items():
        np.save(folder / name, arrays[role])
    return list(FILES.values())


@dataclass
class CoLink:
    """The memory-mapped arrays of an index folder."""

    film_indptr: np.ndarray
    film_links: np.ndarray
    film_weights: np.ndarray
    link_indptr: np.ndarray
    link_films: np.ndarray
    link_weights: np.ndarray

    @classmethod
    def open(cls, paths: dict[str, Path]) -> CoLink:
        return cls(**{role: np.load(paths[role], mmap_mode="r") for role in FILES})

    @property
    def n_films(self) -> int:
        return len(self.film_indptr) - 1

    def film_row(self, film: int) -> tuple[np.ndarray, np.ndarray]:
        """(links, weights) of one film's row, links ascending."""
        start, end = self.film_indptr[film], self.film_indptr[film + 1]
        return (np.asarray(self.film_links[start:end], dtype=np.int64),
                np.asarray(self.film_weights[start:end], dtype=np.float64))

    def query_row(self, films: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(links, weights) of the normalised sum of these films' rows."""
        parts = [(self.film_links[self.film_indptr[f]:self.film_indptr[f + 1]],
                  self.film_weights[self.film_indptr[f]:self.film_indptr[f + 1]])
                 for f in films]
        links = np.concatenate([p[0] for p in parts]).astype(np.int64)
        weights = np.concatenate([p[1] for p in parts]).astype(np.float64)
        if not len(links):
            return links, weights
        unique, at = np.unique(links, return_inverse=True)
        summed = np.bincount(at, weights=weights)
        norm = np.linalg.norm(summed)
        return unique, summed / norm if norm > 0 else summed

    def scores(self, films: list[int]) -> np.ndarray:
        """[n_films] cosine of every film's row with the query films' (0 where nothing is
        shared)."""
        links, weights = self.query_row(films)
        if not len(links):
            return np.zeros(self.n_films)
        starts, ends = self.link_indptr[links], self.link_indptr[links + 1]
        if not (ends > starts).any():
            return np.zeros(self.n_films)
        # One slice of each query link's films (views of the memory-mapped arrays, copied
        # once by concatenate): faster than gathering them by computed positions
        # (bench/README.md, "Choices in the code, measured").
        spans = list(zip(starts, ends, weights, strict=True))
        entries = np.concatenate([self.link_films[s:e] for s, e, _ in spans])
        values = np.concatenate([self.link_weights[s:e] * w for s, e, w in spans])
        return np.bincount(entries, weights=values, minlength=self.n_films)
