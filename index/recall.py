"""Exact neighbours by brute force, and how many of them Annoy finds (recall@k).

The build measures recall on a sample of items and, when asked, raises `search_k` until the
target is met; the benchmark and the tests use the same functions.
"""

from __future__ import annotations

import logging
import time

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


def exact_top(vectors: np.ndarray, vector: np.ndarray, k: int,
              leave_out: tuple[int, ...] | list[int] = ()) -> np.ndarray:
    """Brute force for one query vector, as the query command answers: the ids of the `k`
    rows of `vectors` most similar to `vector` (rows in `leave_out` excluded), best first."""
    if k <= 0:
        return np.array([], dtype=np.int64)
    scores = np.asarray(vectors @ vector)
    scores[list(leave_out)] = -np.inf
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def seconds_per_query(run, items: np.ndarray) -> float:
    started = time.perf_counter()
    run(items)
    return (time.perf_counter() - started) / max(1, len(items))


def tune_search_k(index, vectors: np.ndarray, n_trees: int, search_k: int, *, k: int,
                  target: float, queries: int, seed: int, tune: bool,
                  prefer_exact: bool) -> dict:
    """Recall@k and speed of `index` on sampled items; search_k raised when `tune`; the
    search the query command should use.

    `search_k` -1 means Annoy's default, n_trees * (k + 1). With `tune`, search_k doubles
    while recall is below `target` — unless Annoy has become slower than brute force (with
    `prefer_exact`), or reads every node (n_items * n_trees). The answer, "search", is
    "annoy", or "exact" when `prefer_exact` and Annoy cannot reach the target faster than
    brute force (diffuse vectors, or sets so small that a matrix-vector product wins).
    Returns {"search", "search_k", "recall", "annoy_ms", "exact_ms", "configured_search_k",
    "configured_recall", "queries", "k", "ladder": [[search_k, recall, ms], ...]}.
    """
    items = sample_items(len(vectors), queries, seed)
    truth = exact_neighbours(vectors, vectors[items], k, exclude=items)
    timed = items[:200]
    k_exact = min(k, len(vectors) - 1)
    exact_ms = 1e3 * seconds_per_query(
        lambda chosen: [exact_top(vectors, vectors[i], k_exact, (i,)) for i in chosen.tolist()],
        timed)

    def step(nodes: int) -> list:
        found = annoy_neighbours(index, items, k, nodes)
        ms = 1e3 * seconds_per_query(lambda chosen: annoy_neighbours(index, chosen, k, nodes),
                                     timed)
        logger.info("search_k %d: recall@%d %.4f, %.3f ms a query (brute force %.3f ms)",
                    nodes, k, recall_at(truth, found), ms, exact_ms)
        return [nodes, recall_at(truth, found), ms]

    current = search_k if search_k > 0 else n_trees * (k + 1)
    ladder = [step(current)]
    ceiling = max(current, len(vectors) * n_trees)
    while (tune and ladder[-1][1] < target and current < ceiling
           and not (prefer_exact and ladder[-1][2] > exact_ms)):
        current = min(current * 2, ceiling)
        ladder.append(step(current))
    _, recall, annoy_ms = ladder[-1]
    search = "annoy"
    if prefer_exact and (recall < target or annoy_ms > exact_ms):
        search = "exact"
        logger.info("brute force answers: Annoy reaches recall@%d %.4f at %.3f ms a query, "
                    "brute force 1.0 at %.3f ms", k, recall, annoy_ms, exact_ms)
    elif recall < target:
        logger.warning("recall@%d %.4f at search_k %d is below the target %.2f: raise "
                       "index.n_trees (or index.search_k), or answer with --exact",
                       k, recall, current, target)
    return {"search": search, "search_k": current, "recall": recall, "annoy_ms": annoy_ms,
            "exact_ms": exact_ms, "configured_search_k": search_k,
            "configured_recall": ladder[0][1], "queries": int(len(items)), "k": k,
            "ladder": ladder}
