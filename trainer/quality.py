"""Quality of film similarity on known answers, with the baselines measured the same way.

Two measures, both on what a user of "films like X" sees:

- **pair hit@k**: for known related pairs of films (sequels: `sequels` in a films-cast
  truth file; all pairs of a planted franchise in a sample dump's truth file; or a JSON list
  of title pairs), the share of (film, partner) directions in which the partner is among the
  film's k nearest films (the film itself left out).
- **taste AUC** (needs ratings tables linked to these films): positives are ratings >= 4; a
  seeded `taste_holdout` share of each user's liked films is held out; a film scores by its
  mean cosine to the user's other liked films; the AUC of the held-out liked films against
  the linked films the user never rated, averaged over users.

Every similarity answers the same two questions (`neighbours`, `set_scores`): the exported
vectors, the plain and idf-weighted co-link cosines (a film as its sparse set of links), and
for taste, popularity (how many ratings a film has outside the held-out ones). Only films
linked to a ratings item take part in the taste AUC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from conf.errors import WikifilmsError


class TruthError(WikifilmsError, ValueError):
    """A pairs file that cannot be used; the message names it."""


# --- similarities -------------------------------------------------------------------------
class VectorSimilarity:
    """Cosine of L2-normalised vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float32)

    def scores(self, films: np.ndarray) -> np.ndarray:
        return self.vectors[films] @ self.vectors.T

    def set_scores(self, films: np.ndarray) -> np.ndarray:
        return self.vectors @ self.vectors[films].mean(axis=0)


class CoLinkSimilarity:
    """Cosine of the films' sparse link vectors (rows of a films x links matrix)."""

    def __init__(self, matrix: sp.spmatrix) -> None:
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.matrix = (sp.diags(1 / np.maximum(norms, 1e-12)) @ matrix).tocsr()

    @classmethod
    def of_links(cls, film_links: np.ndarray, n_films: int, n_links: int,
                 weighting: str = "idf") -> CoLinkSimilarity:
        """The co-link baselines: each link weighs 1 (`plain`), or its idf, log(films /
        films linking to it) (`idf`)."""
        film, link = film_links[:, 0], film_links[:, 1]
        if weighting == "idf":
            df = np.bincount(link, minlength=n_links)
            weights = np.log(n_films / np.maximum(df, 1))[link]
        else:
            weights = np.ones(len(film_links))
        return cls(sp.csr_matrix((weights, (film, link)), shape=(n_films, n_links)))

    def scores(self, films: np.ndarray) -> np.ndarray:
        return (self.matrix[films] @ self.matrix.T).toarray()

    def set_scores(self, films: np.ndarray) -> np.ndarray:
        centre = np.asarray(self.matrix[films].sum(axis=0)).ravel() / len(films)
        return self.matrix @ centre


class Popularity:
    """The same score for every user: how many ratings a film has (taste only)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts.astype(np.float64)

    def set_scores(self, films: np.ndarray) -> np.ndarray:
        return self.counts


def nearest(similarity, films: np.ndarray, k: int, chunk: int = 512) -> np.ndarray:
    """[len(films), k] nearest films by `similarity`, each film left out of its own row
    (k at most the other films)."""
    out = None
    for start in range(0, len(films), chunk):
        rows = films[start:start + chunk]
        scores = similarity.scores(rows)
        scores[np.arange(len(rows)), rows] = -np.inf
        k = min(k, scores.shape[1] - 1)
        if out is None:
            out = np.empty((len(films), k), dtype=np.int64)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[start:start + len(rows)] = np.take_along_axis(top, order, axis=1)
    return out


# --- pair hit@k ---------------------------------------------------------------------------
@dataclass
class Pairs:
    """Known related films, as film ids, and how many of the file's pairs were not found."""

    pairs: np.ndarray  # [m, 2]
    source: str
    given: int
    missing_titles: list[str]


def read_pairs(path: str | Path, film_titles: list[str]) -> Pairs:
    """Title pairs from `path`: a JSON list of [title, title], or an object with `sequels`
    or `pairs` (such a list), or `franchises` (a sample dump's truth: [{"films": [...]}],
    every pair inside a franchise). Pairs naming a film the tables lack are left out."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise TruthError(f"{path}: cannot read it as JSON ({e})") from e
    if isinstance(data, dict) and "franchises" in data:
        titles = [[t for t in f.get("films", [])] for f in data["franchises"]]
        listed = [(a, b) for group in titles for i, a in enumerate(group) for b in group[i + 1:]]
    else:
        listed = data.get("sequels", data.get("pairs")) if isinstance(data, dict) else data
    if not isinstance(listed, list) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(t, str) for t in p)
            for p in listed):
        raise TruthError(f"{path}: expected a list of [title, title] pairs (or an object with "
                         "'sequels', 'pairs' or 'franchises')")
    ids = {t: i for i, t in enumerate(film_titles)}
    missing = sorted({t for p in listed for t in p if t not in ids})
    found = [(ids[a], ids[b]) for a, b in listed if a in ids and b in ids and a != b]
    if not found:
        raise TruthError(f"{path}: none of its {len(listed)} pairs names two films of these "
                         f"tables (e.g. {missing[:3]})")
    return Pairs(np.array(found, dtype=np.int64), str(path), len(listed), missing)


def pair_hit_at_k(similarity, pairs: np.ndarray, k: int = 10) -> float:
    """Share of (film, partner) directions whose partner is in the film's top k."""
    films = np.unique(pairs)
    top = nearest(similarity, films, k)
    row = {int(f): i for i, f in enumerate(films)}
    hits = sum(int(b in top[row[int(a)]]) + int(a in top[row[int(b)]]) for a, b in pairs)
    return hits / (2 * len(pairs))


# --- taste AUC ----------------------------------------------------------------------------
@dataclass
class TasteSplit:
    """Per user: liked films kept as the profile, liked films held out, films never rated."""

    kept: list[np.ndarray]
    held: list[np.ndarray]
    unrated: list[np.ndarray]
    popularity: np.ndarray  # [n_films] ratings outside the held-out ones
    linked_films: int

    @classmethod
    def build(cls, user: np.ndarray, film: np.ndarray, rating: np.ndarray, n_films: int, *,
              min_rating: float = 4.0, holdout: float = 0.2, seed: int = 0,
              max_users: int = 0) -> TasteSplit:
        """From ratings rows (film = -1 where the item is not linked to a film)."""
        rng = np.random.default_rng(seed)
        linked = film >= 0
        user, film, rating = user[linked], film[linked], rating[linked]
        candidates = np.unique(film)
        order = np.lexsort((film, user))
        user, film, rating = user[order], film[order], rating[order]
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
        ends = np.r_[starts[1:], len(user)]
        kept, held, unrated = [], [], []
        held_mask = np.zeros(len(user), dtype=bool)
        for lo, hi in zip(starts, ends, strict=True):
            liked = np.unique(film[lo:hi][rating[lo:hi] >= min_rating])
            if len(liked) < 2:
                continue
            liked = rng.permutation(liked)
            n_held = max(1, int(round(holdout * len(liked))))
            kept.append(np.sort(liked[n_held:]))
            held.append(np.sort(liked[:n_held]))
            unrated.append(np.setdiff1d(candidates, film[lo:hi], assume_unique=False))
            held_mask[lo:hi] = np.isin(film[lo:hi], held[-1])
        if max_users and len(kept) > max_users:
            chosen = np.sort(rng.choice(len(kept), max_users, replace=False))
            kept, held, unrated = ([x[i] for i in chosen] for x in (kept, held, unrated))
        popularity = np.bincount(film[~held_mask], minlength=n_films)
        return cls(kept, held, unrated, popularity, len(candidates))

    @property
    def users(self) -> int:
        return len(self.kept)


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Share of (positive, negative) pairs ordered correctly, ties counting half."""
    if not len(positives) or not len(negatives):
        return float("nan")
    sorted_neg = np.sort(negatives)
    below = np.searchsorted(sorted_neg, positives, side="left")
    not_above = np.searchsorted(sorted_neg, positives, side="right")
    return float((below + not_above).sum() / (2.0 * len(positives) * len(negatives)))


def taste_auc(similarity, split: TasteSplit) -> float:
    """Mean over users of the AUC of held-out liked films against never-rated ones."""
    aucs = []
    for kept, held, unrated in zip(split.kept, split.held, split.unrated, strict=True):
        if not len(unrated):
            continue
        scores = similarity.set_scores(kept)
        aucs.append(auc(scores[held], scores[unrated]))
    return float(np.mean(aucs)) if aucs else float("nan")


# --- the report ---------------------------------------------------------------------------
def quality_report(film_vectors: np.ndarray, film_links: np.ndarray, film_titles: list[str],
                   n_links: int, cfg, *, pairs: str | Path | None = None,
                   ratings=None) -> dict:
    """Pair hit@k (with `pairs`, a file for read_pairs) and taste AUC (with `ratings`, a
    trainer.ratings.Ratings linked to these films) of the vectors and of the baselines,
    measured on the same films, pairs and split."""
    e = cfg["eval"]
    n_films = len(film_titles)
    similarities = {
        "vectors": VectorSimilarity(film_vectors),
        "colink_plain": CoLinkSimilarity.of_links(film_links, n_films, n_links, "plain"),
        "colink_idf": CoLinkSimilarity.of_links(film_links, n_films, n_links, "idf"),
    }
    report: dict = {}
    if pairs is not None:
        known = read_pairs(pairs, film_titles)
        k = e["pair_k"]
        report["pairs"] = {"file": known.source, "given": known.given, "used": len(known.pairs),
                           "titles_not_in_tables": len(known.missing_titles),
                           "examples_not_in_tables": known.missing_titles[:5]}
        report[f"pair_hit@{k}"] = {name: pair_hit_at_k(sim, known.pairs, k)
                                   for name, sim in similarities.items()}
    if ratings is not None:
        split = TasteSplit.build(ratings.user, ratings.film, ratings.rating, n_films,
                                 min_rating=e["taste_min_rating"], holdout=e["taste_holdout"],
                                 seed=cfg["train"]["seed"], max_users=e["taste_max_users"])
        report["taste"] = {"ratings": ratings.folder, "users": split.users,
                           "linked_films": split.linked_films,
                           "min_rating": e["taste_min_rating"], "holdout": e["taste_holdout"]}
        with_popularity = {**similarities, "popularity": Popularity(split.popularity)}
        report["taste_auc"] = {name: taste_auc(sim, split)
                               for name, sim in with_popularity.items()}
    return report
