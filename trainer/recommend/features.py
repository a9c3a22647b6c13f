"""Each item's features: what the ranking model adds up into the item's vector.

Three groups, one vocabulary (LightFM's item features, grouped):
- "ids": the item's own row, only for items with training ratings (an item nobody rated in
  training has no learned row, so a cold item is scored from its content alone);
- "genres": the catalogue's genres (MovieLens' 19), each 1 / (the item's genre count);
- "links": the Wikipedia links of the item's film that at least `link_min_items` items share,
  each 1 / (the film's kept link count).
Each group's weights add up to 1, so a film with 300 links does not drown its id.
"film_vector" is not a vocabulary group: the film's vector from a films run, projected by a
learned matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

GROUPS = ("ids", "genres", "links")
FEATURE_SETS = (*GROUPS, "film_vector")


@dataclass
class Features:
    """Rows (items, or users) as weighted rows of a feature vocabulary, in CSR form."""

    splits: np.ndarray  # int64 [n_rows + 1]
    features: np.ndarray  # int32 feature ids
    weights: np.ndarray  # float32
    names: list[str]  # feature id -> "id:12", "genre:Drama", "link:George Lucas"
    groups: dict[str, tuple[int, int]]  # group -> [start, end) of its feature ids
    film_vectors: np.ndarray | None = None  # float32 [n_items, d], zeros where not linked

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def n_items(self) -> int:
        return len(self.splits) - 1

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.weights, self.features, self.splits),
                             shape=(self.n_items, self.n_features))


def _group_rows(rows: list[np.ndarray], n_items: int, width: int) -> sp.csr_matrix:
    """Items x `width` group features, each non-empty row's weights 1 / its length."""
    lengths = np.array([len(r) for r in rows])
    cols = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    data = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    indptr = np.r_[0, np.cumsum(lengths)]
    return sp.csr_matrix((data, cols, indptr), shape=(n_items, width))


def item_features(use: list[str], *, n_items: int, trained_items: np.ndarray,
                  item_genres: list[list[str]], item_film: np.ndarray,
                  film_links: np.ndarray | None = None, link_titles: list[str] | None = None,
                  film_vectors: np.ndarray | None = None, link_min_items: int = 2,
                  ) -> Features:
    """The features named in `use` (FEATURE_SETS) of every item. `trained_items`: bool
    [n_items], items with training ratings (the only ones with an id row); `film_links`
    [n, 2] film, link and `link_titles` for "links"; `film_vectors` [n_films, d] for
    "film_vector"."""
    blocks, names = [], []
    if "ids" in use:
        ids = np.flatnonzero(trained_items)
        blocks.append(("ids", sp.csr_matrix((np.ones(len(ids)), (ids, ids)),
                                            shape=(n_items, n_items))))
        names += [f"id:{i}" for i in range(n_items)]
    if "genres" in use:
        vocabulary = sorted({g for gs in item_genres for g in gs})
        at = {g: i for i, g in enumerate(vocabulary)}
        blocks.append(("genres", _group_rows([np.array(sorted({at[g] for g in gs}), np.int64)
                                              for gs in item_genres], n_items, len(vocabulary))))
        names += [f"genre:{g}" for g in vocabulary]
    if "links" in use:
        if film_links is None or link_titles is None:
            raise ValueError("the links feature needs the films' links (a films run)")
        linked = np.flatnonzero(item_film >= 0)
        # Items of the same film share its links; an item x link incidence first.
        by_film = sp.csr_matrix((np.ones(len(film_links)), (film_links[:, 0], film_links[:, 1])),
                                shape=(int(max(film_links[:, 0].max(initial=-1),
                                               item_film.max(initial=-1))) + 1,
                                       len(link_titles)))
        incidence = sp.csr_matrix((n_items, len(link_titles)))
        if len(linked):
            pick = sp.csr_matrix((np.ones(len(linked)), (linked, item_film[linked])),
                                 shape=(n_items, by_film.shape[0]))
            incidence = (pick @ by_film).tocsr()
        incidence.data[:] = 1.0
        kept = np.flatnonzero(np.asarray(incidence.sum(axis=0)).ravel() >= link_min_items)
        incidence = incidence[:, kept].tocsr()
        blocks.append(("links", _group_rows(np.split(incidence.indices, incidence.indptr[1:-1]),
                                            n_items, len(kept))))
        names += [f"link:{link_titles[k]}" for k in kept]
    assembled = _assemble(blocks, names, n_items)
    vectors = None
    if "film_vector" in use:
        if film_vectors is None:
            raise ValueError("the film_vector feature needs a films run")
        vectors = np.zeros((n_items, film_vectors.shape[1]), np.float32)
        linked = item_film >= 0
        vectors[linked] = film_vectors[item_film[linked]]
    assembled.film_vectors = vectors
    return assembled


def _assemble(blocks: list[tuple[str, sp.csr_matrix]], names: list[str], n_rows: int
              ) -> Features:
    """One vocabulary from the groups' blocks, side by side."""
    groups, start = {}, 0
    for group, block in blocks:
        groups[group] = (start, start + block.shape[1])
        start += block.shape[1]
    matrix = (sp.hstack([b for _, b in blocks], format="csr") if blocks
              else sp.csr_matrix((n_rows, 0))).astype(np.float32)
    matrix.sort_indices()
    return Features(splits=matrix.indptr.astype(np.int64),
                    features=matrix.indices.astype(np.int32),
                    weights=matrix.data.astype(np.float32), names=names, groups=groups)


def item_link_matrix(item_film: np.ndarray, film_links: np.ndarray, film_link_counts: np.ndarray,
                     n_films: int, n_links: int) -> sp.csr_matrix:
    """Items x links, log(1 + count) x idf (the index's co-link weighting); rows of unlinked
    items empty. For the content baseline (metrics.ContentKNN)."""
    df = np.bincount(film_links[:, 1], minlength=n_links)
    idf = np.log(n_films / np.maximum(df, 1))
    films = sp.csr_matrix((np.log1p(film_link_counts) * idf[film_links[:, 1]],
                           (film_links[:, 0], film_links[:, 1])), shape=(n_films, n_links))
    linked = np.flatnonzero(item_film >= 0)
    pick = sp.csr_matrix((np.ones(len(linked)), (linked, item_film[linked])),
                         shape=(len(item_film), n_films))
    return (pick @ films).tocsr()


USER_GROUPS = ("ids", "history")


def user_features(use: list[str], *, n_users: int, n_items: int, user: np.ndarray,
                  item: np.ndarray) -> Features:
    """The users' features: "ids" (the user's own row) and "history" (the items the user
    rated in training, (user, item) rows given, each 1 / the user's count: SVD++'s implicit
    feedback; a new user is folded in from these rows alone)."""
    blocks, names = [], []
    if "ids" in use:
        everyone = np.arange(n_users)
        blocks.append(("ids", sp.csr_matrix((np.ones(n_users), (everyone, everyone)),
                                            shape=(n_users, n_users))))
        names += [f"user:{u}" for u in range(n_users)]
    if "history" in use:
        rated = sp.csr_matrix((np.ones(len(user)), (user, item)), shape=(n_users, n_items))
        rated.data[:] = 1.0
        blocks.append(("history", _group_rows(np.split(rated.indices, rated.indptr[1:-1]),
                                              n_users, n_items)))
        names += [f"history:{i}" for i in range(n_items)]
    return _assemble(blocks, names, n_users)
