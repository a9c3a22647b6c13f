"""Neighbour quality against the planted truth of a generated sample dump.

The sample generator writes `<dump>-truth.json` with the franchises it planted (sequels share
cast, crew and links). The share of each franchise film's fellow members found among its k
nearest neighbours is reported for the embedding and, computed in the same run, for the plain
co-link baseline: cosine similarity of the films' (training) link sets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class TruthError(ValueError):
    """A truth file that cannot be used."""


def franchise_groups(truth_path: str | Path, film_titles: list[str]) -> list[np.ndarray]:
    """film_id arrays, one per planted franchise with at least two films in the tables."""
    try:
        truth = json.loads(Path(truth_path).read_text())
        franchises = truth["franchises"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise TruthError(f"{truth_path}: not a sample-dump truth file ({e})") from e
    ids = {t: i for i, t in enumerate(film_titles)}
    groups = [np.array([ids[t] for t in f["films"] if t in ids]) for f in franchises]
    return [g for g in groups if len(g) >= 2]


def embedding_neighbours(vectors: np.ndarray, films: np.ndarray, k: int) -> np.ndarray:
    """[len(films), k] nearest films by cosine (vectors L2-normalised), the film left out."""
    scores = vectors[films] @ vectors.T
    scores[np.arange(len(films)), films] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def colink_neighbours(train: np.ndarray, n_films: int, films: np.ndarray, k: int) -> np.ndarray:
    """[len(films), k] nearest films by cosine of binary link sets, never building the
    film x link matrix: for each query, count shared links through the link -> films lists."""
    by_link = train[np.argsort(train[:, 1], kind="stable")]
    by_film = train[np.argsort(train[:, 0], kind="stable")]
    link_start = np.searchsorted(by_link[:, 1], np.arange(by_link[:, 1].max() + 2))
    degree = np.bincount(train[:, 0], minlength=n_films).astype(np.float64)
    film_start = np.searchsorted(by_film[:, 0], np.arange(n_films + 1))
    out = np.empty((len(films), k), dtype=np.int64)
    for row, film in enumerate(films):
        links = by_film[film_start[film]:film_start[film + 1], 1]
        others = np.concatenate([by_link[link_start[x]:link_start[x + 1], 0] for x in links])
        shared = np.bincount(others, minlength=n_films).astype(np.float64)
        score = shared / np.sqrt(np.maximum(degree * degree[film], 1.0))
        score[film] = -np.inf
        top = np.argpartition(-score, k)[:k]
        out[row] = top[np.argsort(-score[top])]
    return out


def group_recall(neighbours_of, groups: list[np.ndarray], k: int) -> float:
    """Mean over franchise films of (fellow members in its top k) / min(fellows, k)."""
    films = np.concatenate(groups)
    neighbours = neighbours_of(films, k)
    shares = []
    at = 0
    for group in groups:
        for film in group:
            fellows = set(group.tolist()) - {int(film)}
            found = len(fellows & set(neighbours[at].tolist()))
            shares.append(found / min(len(fellows), k))
            at += 1
    return float(np.mean(shares))


def franchise_report(film_vectors: np.ndarray, train: np.ndarray, truth_path: str | Path,
                     film_titles: list[str], k: int = 10) -> dict:
    """{"franchise_films", "embedding@k", "colink_baseline@k"} for the planted franchises."""
    groups = franchise_groups(truth_path, film_titles)
    if not groups:
        raise TruthError(f"{truth_path}: no planted franchise has two films in these tables")
    n_films = len(film_titles)
    return {
        "franchise_films": int(sum(len(g) for g in groups)),
        "k": k,
        "embedding": group_recall(lambda f, k: embedding_neighbours(film_vectors, f, k), groups, k),
        "colink_baseline": group_recall(lambda f, k: colink_neighbours(train, n_films, f, k),
                                        groups, k),
    }
