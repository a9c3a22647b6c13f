"""Exact neighbours by brute force, and how many of them Annoy finds (recall@k).

The build measures recall on a sample of items and, when asked, raises `search_k` until the
target is met; the benchmark and the tests use the same functions.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int,
                     exclude: np.ndarray | None = None, block: int = 256) -> np.ndarray:
    """[len(queries), k] ids of the `k` most cosine-similar rows of `vectors`, best first.

    `vectors` and `queries` are L2-normalised. `exclude[i]`, when given, is a row id left out
    of query i's answer (the query item itself). Blocks of queries keep memory at
    block × n floats.
    """
    k = min(k, len(vectors) - (1 if exclude is not None else 0))
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ vectors.T
        if exclude is not None:
            rows = np.arange(len(scores))
            scores[rows, exclude[start:start + block]] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[start:start + block] = np.take_along_axis(top, order, axis=1)
    return out


def annoy_neighbours(index, items: np.ndarray, k: int, search_k: int) -> list[list[int]]:
    """Annoy's `k` neighbours of each item, the item itself left out."""
    answers = []
    for i in items.tolist():
        found = index.get_nns_by_item(i, k + 1, search_k=search_k)
        answers.append([j for j in found if j != i][:k])
    return answers


def recall_at(truth: np.ndarray, answers: list[list[int]]) -> float:
    """Mean share of each row of `truth` found in the matching answer."""
    k = truth.shape[1]
    if k == 0 or not len(truth):
        return 1.0
    hits = sum(len(set(row.tolist()) & set(found))
               for row, found in zip(truth, answers, strict=True))
    return hits / (k * len(truth))


def sample_items(n_items: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_items, size=min(n, n_items), replace=False))


def tune_search_k(index, vectors: np.ndarray, n_trees: int, search_k: int, *, k: int,
                  target: float, queries: int, seed: int, tune: bool) -> dict:
    """Recall@k of `index` at `search_k` on sampled items, raised by doubling when `tune`.

    Returns {"search_k", "recall", "configured_search_k", "configured_recall", "queries",
    "ladder": [[search_k, recall], ...]}. `search_k` -1 means Annoy's default, n_trees * k.
    Doubling stops at n_items * n_trees inspected nodes: past that Annoy reads every leaf
    of every tree and is no faster than brute force.
    """
    items = sample_items(len(vectors), queries, seed)
    truth = exact_neighbours(vectors, vectors[items], k, exclude=items)
    current = search_k if search_k > 0 else n_trees * (k + 1)
    ladder = [[current, recall_at(truth, annoy_neighbours(index, items, k, current))]]
    ceiling = max(current, len(vectors) * n_trees)
    while tune and ladder[-1][1] < target and current < ceiling:
        current = min(current * 2, ceiling)
        ladder.append([current, recall_at(truth, annoy_neighbours(index, items, k, current))])
        logger.info("search_k %d: recall@%d %.4f", current, k, ladder[-1][1])
    if ladder[-1][1] < target:
        logger.warning("recall@%d %.4f at search_k %d is below the target %.2f: raise "
                       "index.n_trees (or index.search_k), or answer with --exact",
                       k, ladder[-1][1], current, target)
    return {"search_k": current, "recall": ladder[-1][1], "configured_search_k": search_k,
            "configured_recall": ladder[0][1], "queries": int(len(items)), "k": k,
            "ladder": ladder}


def clustered_vectors(n: int, dim: int, clusters: int, spread: float, seed: int) -> np.ndarray:
    """L2-normalised points around `clusters` random centres (noise `spread` per coordinate
    against unit-variance centres): the synthetic set of the benchmark and the tests."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, n)]
    points += spread * rng.standard_normal((n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)
