"""Nearest neighbours of one or several items: Annoy for speed, brute force with `exact`.

Several items answer "for someone who liked all of them": the mean of their (normalised)
vectors. The query items are never in their own answer. Similarities are exact cosines
computed from the vectors, whichever search found the neighbours.
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
    n = k + len(leave_out)
    if exact:
        found = exact_top(side.vectors, vector, k, list(leave_out)).tolist()
    else:
        search_k = search_k or search_k_for(side, n)
        if len(leave_out) == 1:
            found = side.ann.get_nns_by_item(ids[0], n, search_k=search_k)
        else:
            found = side.ann.get_nns_by_vector(vector.tolist(), n, search_k=search_k)
        found = [j for j in found if j not in leave_out][:k]
    similarities = np.asarray(side.vectors[found], dtype=np.float32) @ vector if found else []
    own_id = "film_id" if side.kind == "films" else "link_id"
    columns = [c for c in side.items.column_names if c not in ("title", own_id)]
    # One zero-copy slice per answer: take() converts its indices with pa.array, which
    # imports pandas (0.3 s of a cold start).
    rows = [side.items.slice(j, 1).to_pylist()[0] for j in found]
    return [Neighbour(rank=r + 1, id=int(j), title=row["title"],
                      similarity=float(similarities[r]),
                      facts={c: row[c] for c in columns})
            for r, (j, row) in enumerate(zip(found, rows, strict=True))]
