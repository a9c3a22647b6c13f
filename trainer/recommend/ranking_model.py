"""The ranking model: a user's vector against items made of their features.

    score(u, i) = users[u] . v_i[:dim] + v_i[dim]
    v_i = sum over the item's features f of weight(i, f) x features[f]   (features.py)
          + P film_vector(i)                                            (if used)

Each feature row is dim + 1 wide: its last column adds up to the item's bias, so that the
exported item vectors carry it and a score is exactly [users[u], 1] . items[i].
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from trainer.models import SparseEmbedding
from trainer.recommend.features import Features


class FeatureBag(keras.layers.Layer):
    """Rows (users or items) as weighted sums of feature vectors; the rows' features are
    constant data (features.py), the feature vectors the layer's weights. With fewer than
    `whole_below` (row, feature) entries, each step computes every row (module docstring of
    call); above, only the batch's rows."""

    def __init__(self, features: Features, width: int, *, seed: int, stddev: float,
                 whole_below: int = 4_000_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.table = SparseEmbedding(max(features.n_features, 1), width, stddev=stddev,
                                     seed=seed, name="features")
        self.table.build()
        self.splits = tf.constant(features.splits, tf.int64)
        self.feature_ids = tf.constant(features.features, tf.int32)
        self.feature_weights = tf.constant(features.weights, tf.float32)
        self.whole = None
        n = features.n_items
        # Each row its own feature (users made of their ids): a plain lookup, whose gradient
        # touches the batch's rows only; the sum over every row would update the whole table
        # every step (162,541 users at MovieLens-25M's size).
        self.identity = (features.n_features == n and features.film_vectors is None
                         and np.array_equal(features.splits, np.arange(n + 1))
                         and np.array_equal(features.features, np.arange(n))
                         and bool((features.weights == 1).all()))
        if not self.identity and len(features.features) <= whole_below:
            self.whole = True
            self.entry_rows = tf.constant(np.repeat(np.arange(n), np.diff(features.splits))
                                          .astype(np.int32))
            self.n_rows = n
        self.film_vectors = None
        if features.film_vectors is not None:
            self.film_vectors = tf.constant(features.film_vectors, tf.float32)
            self.projection = keras.layers.Dense(
                width, use_bias=False, name="film_vector_projection",
                kernel_initializer=keras.initializers.RandomNormal(stddev=stddev, seed=seed + 2))
            self.projection.build((None, features.film_vectors.shape[1]))
        self.built = True

    def call(self, rows):
        if self.identity:
            return self.table(rows)
        if self.whole is not None:
            # Every row at once (the weighted features summed by row), then the batch's rows:
            # on small vocabularies far cheaper than gathering each row's features, whose
            # gradient is as many table rows as the batch has features. A gather and a
            # segment sum, not a SparseTensor product: XLA compiles them.
            vectors = (tf.gather(self.table.embeddings, self.feature_ids)
                       * self.feature_weights[:, None])
            every = tf.math.unsorted_segment_sum(vectors, self.entry_rows, self.n_rows)
            summed = tf.gather(every, rows)
        else:
            summed = self._gathered(rows)
        if self.film_vectors is not None:
            summed += self.projection(tf.gather(self.film_vectors, rows))
        return summed

    def _gathered(self, rows):
        rows = tf.cast(rows, tf.int64)
        positions = tf.ragged.range(tf.gather(self.splits, rows),
                                    tf.gather(self.splits, rows + 1))
        flat = positions.flat_values
        vectors = (self.table(tf.gather(self.feature_ids, flat))
                   * tf.gather(self.feature_weights, flat)[:, None])
        return tf.math.unsorted_segment_sum(vectors, positions.value_rowids(),
                                            tf.shape(rows)[0])


class RankingModel(keras.Model):
    """Users and items as bags of features (FeatureBag)."""

    def __init__(self, user_features: Features, features: Features, dim: int, *,
                 seed: int = 0, stddev: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        self.n_users, self.n_items = user_features.n_items, features.n_items
        self.users = FeatureBag(user_features, dim, seed=seed, stddev=stddev, name="users")
        self.items = FeatureBag(features, dim + 1, seed=seed + 1, stddev=stddev, name="items")
        self.built = True

    def item_vectors(self, items: tf.Tensor) -> tf.Tensor:
        """int [N] -> float32 [N, dim + 1]: the weighted sum of each item's features."""
        return self.items(items)

    def user_vectors(self, users: tf.Tensor) -> tf.Tensor:
        """int [N] -> float32 [N, dim]: the weighted sum of each user's features."""
        return self.users(users)

    def call(self, inputs):
        """{"user": [B], "item": [B, n]} -> (scores [B, n], user vectors, item vectors)."""
        users = self.user_vectors(inputs["user"])
        shape = tf.shape(inputs["item"])
        items = tf.reshape(self.item_vectors(tf.reshape(inputs["item"], [-1])),
                           [shape[0], shape[1], self.dim + 1])
        scores = tf.reduce_sum(users[:, None, :] * items[..., :self.dim], axis=-1)
        return scores + items[..., self.dim], users, items

    def export_vectors(self, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """(users [n_users, dim + 1] with a last column of ones, items [n_items, dim + 1]):
        score = users[u] . items[i]."""
        def table(fn, n):
            parts = [fn(tf.range(i, min(i + chunk, n))).numpy() for i in range(0, n, chunk)]
            return np.concatenate(parts).astype(np.float32) if parts else None
        users = table(self.user_vectors, self.n_users)
        users = np.hstack([users, np.ones((self.n_users, 1), np.float32)])
        return users, table(self.item_vectors, self.n_items)


def pairwise_loss(scores: tf.Tensor, weight: tf.Tensor, kind: str) -> tf.Tensor:
    """Per positive (row): column 0 the positive's score, then its sampled negatives'.
    "bpr": mean over negatives of -log sigmoid(positive - negative); "softmax": the
    cross-entropy of the positive among itself and its negatives. Masked negatives (weight 0,
    an accidental positive) count for nothing."""
    negative_weight = weight[:, 1:]
    if kind == "bpr":
        per_pair = tf.nn.softplus(-(scores[:, :1] - scores[:, 1:]))
        return (tf.reduce_sum(per_pair * negative_weight, axis=1)
                / tf.maximum(tf.reduce_sum(negative_weight, axis=1), 1.0))
    masked = scores + tf.math.log(tf.maximum(weight, 1e-30))  # weight 0 -> logit -inf-ish
    return -tf.nn.log_softmax(masked, axis=1)[:, 0]
