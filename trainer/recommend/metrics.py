"""Per-user AUC of a scorer, and the baselines scored the same way (protocol: split.py).

A scorer maps users to scores over every item: `scores(users) -> float [len(users), n_items]`.
For each user with at least one positive among the candidates, AUC = the share of (positive,
other candidate) pairs the scores order correctly, ties counting half; the mean over users is
reported. Two tasks:
- warm ("seed protocol"): candidates = every item except the cold ones; positives = the user's
  test ratings >= min_rating; the user's training items count as negatives, as in the
  protocol this follows (Kula's triplet_recommendations_keras: `full_auc`);
- cold: candidates = the cold items; positives = the user's ratings of them >= min_rating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata


@dataclass
class AucTask:
    """Users, the candidate items they are scored on, and their positives among them."""

    name: str
    candidates: np.ndarray  # item ids
    users: np.ndarray  # users with at least one positive
    positives: sp.csr_matrix  # [len(users), len(candidates)] 1 where positive

    @classmethod
    def build(cls, name: str, user: np.ndarray, item: np.ndarray, rating: np.ndarray,
              candidates: np.ndarray, min_rating: float, max_users: int = 0,
              seed: int = 0) -> AucTask:
        """From the rows (user, item, rating) whose liked items are the positives."""
        column = np.full(int(max(item.max(initial=-1), candidates.max(initial=-1))) + 1, -1)
        column[candidates] = np.arange(len(candidates))
        liked = (rating >= min_rating) & (column[item] >= 0)
        users = np.unique(user[liked])
        if max_users and len(users) > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        row = np.full(int(user.max(initial=-1)) + 1, -1)
        row[users] = np.arange(len(users))
        keep = liked & (row[user] >= 0)
        positives = sp.csr_matrix((np.ones(keep.sum()), (row[user[keep]], column[item[keep]])),
                                  shape=(len(users), len(candidates)))
        positives.data[:] = 1.0  # a user who rated an item twice: still one positive
        return cls(name, np.asarray(candidates), users, positives)


# Comparisons a chunk of users may cost (users x their most positives x candidates): the
# chunk's size follows from it, so a chunk of users with few positives is large.
CHUNK_COMPARISONS = 50_000_000


def mean_auc(scores_of, task: AucTask, chunk: int = 256) -> float:
    """The mean over the task's users of their AUC under `scores_of(users)`.

    A user's AUC from the average ranks of their positives among the candidates (ties count
    half): rank(p) = #(scores < p) + (#(scores == p) + 1) / 2, counted by comparing each
    positive's score with the row, not by ranking the whole row: a user has a few positives
    among tens of thousands of candidates. Users are taken in order of how many positives
    they have, in chunks of at most `chunk` users and CHUNK_COMPARISONS comparisons."""
    if not len(task.users) or len(task.candidates) < 2:
        return float("nan")
    counts = np.diff(task.positives.indptr)
    order = np.argsort(counts, kind="stable")
    n_candidates = len(task.candidates)
    aucs = []
    lo = 0
    while lo < len(order):
        most = max(1, int(counts[order[min(lo + chunk, len(order)) - 1]]))
        size = max(1, min(chunk, CHUNK_COMPARISONS // (most * n_candidates)))
        rows = order[lo:lo + size]
        lo += size
        scores = np.asarray(scores_of(task.users[rows]), dtype=np.float64)[:, task.candidates]
        positives = task.positives[rows]
        p = np.diff(positives.indptr)
        width = int(p.max())
        # Each user's positives' scores, padded with NaN (NaN compares false: counts nothing).
        at = np.full((len(rows), width), -1)
        slot = np.arange(positives.nnz) - np.repeat(positives.indptr[:-1], p)
        at[np.repeat(np.arange(len(rows)), p), slot] = positives.indices
        mine = np.where(at >= 0, np.take_along_axis(scores, np.maximum(at, 0), axis=1), np.nan)
        below = (scores[:, None, :] < mine[:, :, None]).sum(axis=2)
        equal = (scores[:, None, :] == mine[:, :, None]).sum(axis=2)
        rank_sum = np.where(at >= 0, below + (equal + 1) / 2, 0.0).sum(axis=1)
        n = n_candidates - p
        ok = n > 0
        aucs.append((rank_sum[ok] - p[ok] * (p[ok] + 1) / 2) / (p[ok] * n[ok]))
    return float(np.concatenate(aucs).mean())


def mean_auc_by_ranks(scores_of, task: AucTask, chunk: int = 256) -> float:
    """mean_auc by ranking every candidate (scipy's rankdata): the definition, slower; the
    tests check that both agree."""
    if not len(task.users) or len(task.candidates) < 2:
        return float("nan")
    aucs = []
    for lo in range(0, len(task.users), chunk):
        users = task.users[lo:lo + chunk]
        scores = np.asarray(scores_of(users))[:, task.candidates]
        ranks = rankdata(scores, axis=1)  # average ranks: ties count half
        positive = task.positives[lo:lo + chunk].toarray() > 0
        p = positive.sum(axis=1)
        n = len(task.candidates) - p
        rank_sum = (ranks * positive).sum(axis=1)
        ok = n > 0
        aucs.append((rank_sum[ok] - p[ok] * (p[ok] + 1) / 2) / (p[ok] * n[ok]))
    return float(np.concatenate(aucs).mean())


def interactions(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary users x items matrix of the given rows."""
    m = sp.csr_matrix((np.ones(len(user)), (user, item)), shape=(n_users, n_items))
    m.data[:] = 1.0
    return m


class Popularity:
    """Every user gets the items' training positive counts."""

    def __init__(self, train: sp.csr_matrix) -> None:
        self.counts = np.asarray(train.sum(axis=0)).ravel()

    def __call__(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), len(self.counts)))


class ItemKNN:
    """Item-based neighbours on the training positives: an item's score is the sum of its
    cosines (over users' binary vectors) with the items the user liked, itself left out.

    Up to `exact_up_to` items every neighbour counts, computed as X_u (D X^T X D) without the
    items x items matrix (D: 1 / item norms). Beyond, the items x items matrix would not fit
    (MovieLens-25M: 59,047 items, billions of non-zero pairs), so each item keeps its
    `neighbours` most similar items, as implicit's ItemItemRecommender keeps K: the matrix
    is built a block of items at a time and truncated per row."""

    def __init__(self, train: sp.csr_matrix, neighbours: int = 200,
                 exact_up_to: int = 20_000, block: int = 1000) -> None:
        norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel())
        inverse = 1 / np.maximum(norms, 1e-12)
        self.train = train
        self.similar = None
        if train.shape[1] <= exact_up_to:
            self.scaled = (train @ sp.diags(inverse)).tocsr()
            return
        by_item = train.T.tocsr()
        rows = []
        for lo in range(0, train.shape[1], block):
            hi = min(lo + block, train.shape[1])
            cosines = (by_item[lo:hi] @ train).toarray().astype(np.float32)
            cosines *= inverse[lo:hi, None] * inverse[None, :]
            cosines[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # not its own neighbour
            k = min(neighbours, cosines.shape[1])
            top = np.argpartition(-cosines, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(cosines, top, axis=1)
            rows.append(sp.csr_matrix((values.ravel(), top.ravel(),
                                       np.arange(0, (hi - lo) * k + 1, k)),
                                      shape=(hi - lo, train.shape[1])))
        self.similar = sp.vstack(rows, format="csr")
        self.similar.eliminate_zeros()

    def __call__(self, users: np.ndarray) -> np.ndarray:
        mine = self.train[users]
        if self.similar is not None:
            return (mine @ self.similar).toarray()
        scores = ((mine @ self.scaled.T) @ self.scaled).toarray()
        # Without each liked item's similarity with itself (1: its norm cancels).
        return scores - self.train[users].toarray()


class ContentKNN:
    """The same sum of cosines, over the items' Wikipedia link vectors (log(1+count) x idf,
    trainer.quality's co-link cosine): scores items nobody has rated from what users liked."""

    def __init__(self, train: sp.csr_matrix, item_links: sp.csr_matrix) -> None:
        norms = np.sqrt(np.asarray(item_links.multiply(item_links).sum(axis=1)).ravel())
        self.links = (sp.diags(1 / np.maximum(norms, 1e-12)) @ item_links).tocsr()
        self.train = train

    def __call__(self, users: np.ndarray) -> np.ndarray:
        profile = self.train[users] @ self.links
        return np.asarray((profile @ self.links.T).todense())


class VectorScorer:
    """users[u] . items[i]: a model's exported vectors (the bias folded in as a column)."""

    def __init__(self, users: np.ndarray, items: np.ndarray) -> None:
        self.users, self.items = users, items

    def __call__(self, users: np.ndarray) -> np.ndarray:
        return self.users[users] @ self.items.T
