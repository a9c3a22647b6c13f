"""The evaluation split of a ratings set, seeded and written to the run folder.

Protocol (docs/recommend.md):
- cold items: `cold_share` of the items linked to a film (and rated at all) are held out of
  training entirely; their ratings are the cold-start test;
- test: of each user's other ratings, `test_per_user` drawn at random (as GroupLens' `ua`
  split, which takes 10 a user), never more than half of a user's ratings;
- validation: `validation_per_user` more drawn the same way from what is left; they steer early
  stopping, so the test ratings are never looked at during training;
- train: the rest. Ratings >= min_rating are the positives everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.arrays import shuffled_within


@dataclass
class Split:
    """Row numbers into the ratings arrays, and the cold items."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    cold_test: np.ndarray  # every rating of a cold item
    cold_items: np.ndarray  # sorted item ids

    def warm_items(self, n_items: int) -> np.ndarray:
        """bool [n_items]: not held out as cold."""
        warm = np.ones(n_items, bool)
        warm[self.cold_items] = False
        return warm


def choose_cold_items(item: np.ndarray, item_film: np.ndarray, share: float,
                      rng: np.random.Generator) -> np.ndarray:
    """`share` of the rated items that are linked to a film, sorted."""
    rated = np.unique(item)
    linked = rated[item_film[rated] >= 0]
    n = int(round(share * len(linked)))
    return np.sort(rng.choice(linked, n, replace=False)) if n else np.zeros(0, item.dtype)


def per_user_draw(user: np.ndarray, rows: np.ndarray, per_user: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(drawn, rest): up to `per_user` of each user's `rows` at random, at most half of them."""
    if per_user <= 0 or len(rows) == 0:
        return rows[:0], rows
    users = user[rows]
    order = shuffled_within(users, rng)
    sorted_users = users[order]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.arange(len(rows)) - starts
    sizes = np.bincount(users)[sorted_users]
    take = rank < np.minimum(per_user, sizes // 2)
    return np.sort(rows[order[take]]), np.sort(rows[order[~take]])


def make_split(user: np.ndarray, item: np.ndarray, item_film: np.ndarray, *,
               test_per_user: int, validation_per_user: int, cold_share: float,
               seed: int) -> Split:
    """The split of the module docstring; the same arguments give the same split."""
    rng = np.random.default_rng(seed)
    cold_items = choose_cold_items(item, item_film, cold_share, rng)
    is_cold = np.isin(item, cold_items)
    rows = np.arange(len(user))
    test, rest = per_user_draw(user, rows[~is_cold], test_per_user, rng)
    validation, train = per_user_draw(user, rest, validation_per_user, rng)
    return Split(train=train, validation=validation, test=test, cold_test=rows[is_cold],
                 cold_items=cold_items)
