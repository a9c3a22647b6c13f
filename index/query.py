"""Nearest neighbours of one or several items: Annoy for speed, brute force with `exact`.

Several items answer "for someone who liked all of them": the mean of their (normalised)
vectors. The query items are never in their own answer. Similarities are exact cosines
computed from the vectors, whichever search found the neighbours.

Films, where the index holds their sparse link vectors (index/colink.py), are scored by
`vector_weight` x the vectors' cosine + the rest x the link vectors' cosine: each of the two
proposes its `candidates` best films (the vectors through Annoy or brute force, the link
vectors exactly, through the films sharing a link), and the union is re-ranked exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from index.folder import ItemIndex
from index.recall import exact_top

# The build measures recall with k = 10 answers plus the query item itself.
TUNED_FOR = 11


@dataclass
class Neighbour:
    rank: int
    id: int
    title: str
    similarity: float
    facts: dict  # year/director (films) or film_count/film_id (links), None when unknown


def query_vector(side: ItemIndex, ids: list[int]) -> np.ndarray:
    vector = np.asarray(side.vectors[sorted(set(ids))], dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def search_k_for(side: ItemIndex, n: int) -> int:
    """The tuned search_k (for 11 answers), scaled for `n` answers."""
    return max(side.search_k, math.ceil(side.search_k * n / TUNED_FOR), side.n_trees * n)


def vector_top(side: ItemIndex, ids: list[int], vector: np.ndarray, n: int, exact: bool,
               search_k: int | None) -> list[int]:
    """The `n` items nearest `vector` by the vectors, the query items left out."""
    leave_out = set(ids)
    if exact:
        return exact_top(side.vectors, vector, n, list(leave_out)).tolist()
    search_k = search_k or search_k_for(side, n + len(leave_out))
    if len(leave_out) == 1:
        found = side.ann.get_nns_by_item(ids[0], n + 1, search_k=search_k)
    else:
        found = side.ann.get_nns_by_vector(vector.tolist(), n + len(leave_out),
                                           search_k=search_k)
    return [j for j in found if j not in leave_out][:n]


def top_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` highest scores, best first, ties by position: what
    `np.argsort(-scores, kind="stable")[:n]` gives, without sorting every score (a popular
    link is shared by most films: sorting them all was most of a query's time)."""
    if len(scores) <= n:
        return np.argsort(-scores, kind="stable")
    kth = np.partition(scores, len(scores) - n)[len(scores) - n]  # the n-th highest
    above = np.flatnonzero(scores > kth)
    chosen = np.r_[above, np.flatnonzero(scores == kth)[:n - len(above)]]
    return chosen[np.argsort(-scores[chosen], kind="stable")]


def blend(side: ItemIndex, cosines: np.ndarray, colink_cosines: np.ndarray) -> np.ndarray:
    """A film's score (module docstring) from its two cosines."""
    return side.vector_weight * cosines + (1.0 - side.vector_weight) * colink_cosines


def film_scores(side: ItemIndex, ids: list[int]) -> np.ndarray:
    """Every film's score against the films `ids` (the query items included), exactly: what
    `nearest` ranks its candidates by."""
    vector = query_vector(side, ids)
    cosines = np.asarray(side.vectors, dtype=np.float32) @ vector
    if side.colink is None:
        return cosines
    return blend(side, cosines, side.colink.scores(ids))


def nearest(side: ItemIndex, ids: list[int], k: int, *, exact: bool | None = None,
            search_k: int | None = None) -> list[Neighbour]:
    """The `k` items most similar to the items `ids` (left out), best first.

    `exact` None: the search the build chose (brute force where Annoy was not faster).
    """
    if exact is None:
        exact = side.exact_by_default
    leave_out = set(ids)
    k = max(0, min(k, len(side.vectors) - len(leave_out)))
    vector = query_vector(side, ids)
    if side.colink is None:
        found = vector_top(side, ids, vector, k, exact, search_k) if k else []
        similarities = (np.asarray(side.vectors[found], dtype=np.float32) @ vector
                        if found else [])
        extra = [{} for _ in found]
    else:
        found, similarities, extra = _hybrid(side, ids, vector, k, exact, search_k)
    own_id = "film_id" if side.kind == "films" else "link_id"
    columns = [c for c in side.items.column_names if c not in ("title", own_id)]
    # One zero-copy slice per answer: take() converts its indices with pa.array, which
    # imports pandas (its cost: bench/README.md, "Choices in the code, measured").
    rows = [side.items.slice(j, 1).to_pylist()[0] for j in found]
    return [Neighbour(rank=r + 1, id=int(j), title=row["title"],
                      similarity=float(similarities[r]),
                      facts={**{c: row[c] for c in columns}, **extra[r]})
            for r, (j, row) in enumerate(zip(found, rows, strict=True))]


def _hybrid(side: ItemIndex, ids: list[int], vector: np.ndarray, k: int, exact: bool,
            search_k: int | None) -> tuple[list[int], np.ndarray, list[dict]]:
    if not k:
        return [], np.zeros(0), []
    n = max(k, side.candidates)
    colink_scores = side.colink.scores(ids)
    colink_scores[list(set(ids))] = 0.0  # the query films are no candidates of their own
    by_vector = vector_top(side, ids, vector, n, exact, search_k)
    shared = np.flatnonzero(colink_scores > 0)
    by_links = shared[top_positions(colink_scores[shared], n)]
    candidates = np.unique(np.r_[np.asarray(by_vector, dtype=np.int64), by_links])
    cosines = np.asarray(side.vectors[candidates], dtype=np.float32) @ vector
    scores = blend(side, cosines, colink_scores[candidates])
    order = np.argsort(-scores, kind="stable")[:k]
    extra = [{"vector_cosine": round(float(c), 6), "colink_cosine": round(float(s), 6)}
             for c, s in zip(cosines[order], colink_scores[candidates[order]], strict=True)]
    return candidates[order].tolist(), scores[order], extra
