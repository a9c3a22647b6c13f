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


def mean_auc(scores_of, task: AucTask, chunk: int = 256) -> float:
    """The mean over the task's users of their AUC under `scores_of(users)`."""
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
    Computed as X_u (D X^T X D) without the items x items matrix (D: 1 / item norms)."""

    def __init__(self, train: sp.csr_matrix) -> None:
        norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel())
        self.scaled = (train @ sp.diags(1 / np.maximum(norms, 1e-12))).tocsr()
        self.train = train

    def __call__(self, users: np.ndarray) -> np.ndarray:
        mine = self.train[users]
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
