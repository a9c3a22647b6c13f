"""The rating model: predicted stars from a user's and an item's feature bags.

    prediction = mean + b_u + b_i + u . v  (the biased matrix factorisation, "GMF" branch)
                 + MLP([u, v])             (NeuMF's multi-layer branch, with dropout)

u and v are FeatureBags (model.py) one column wider than `dim`: the extra column is the bias,
so items made of genres and Wikipedia features get a bias from them too, and an item nobody
rated gets a prediction from its content. `mlp = []` leaves the MLP out: the biased matrix
factorisation baseline ("SVD" in Surprise) with ids only.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from trainer.recommend.features import Features
from trainer.recommend.ranking_model import FeatureBag


class RatingModel(keras.Model):
    def __init__(self, user_features: Features, item_features: Features, dim: int, *,
                 mean: float, mlp: list[int], dropout: float, gmf: bool = True,
                 seed: int = 0, stddev: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim, self.mean, self.gmf = dim, float(mean), gmf
        self.users = FeatureBag(user_features, dim + 1, seed=seed, stddev=stddev, name="users")
        self.items = FeatureBag(item_features, dim + 1, seed=seed + 1, stddev=stddev,
                                name="items")
        self.hidden = []
        width = 2 * dim
        for i, units in enumerate(mlp):
            layer = keras.layers.Dense(units, activation="relu", name=f"mlp_{i}",
                                       kernel_initializer=keras.initializers.GlorotUniform(
                                           seed=seed + 10 + i))
            layer.build((None, width))
            self.hidden.append(layer)
            width = units
        self.dropout = keras.layers.Dropout(dropout, seed=seed + 3) if mlp and dropout else None
        self.out = None
        if mlp:
            self.out = keras.layers.Dense(1, name="mlp_out",
                                          kernel_initializer=keras.initializers.Zeros())
            self.out.build((None, width))
        self.built = True

    def call(self, inputs, training: bool = False):
        """{"user": [B], "item": [B]} -> (predictions [B], user vectors, item vectors)."""
        u, v = self.users(inputs["user"]), self.items(inputs["item"])
        prediction = self.mean + u[:, self.dim] + v[:, self.dim]
        if self.gmf:
            prediction += tf.reduce_sum(u[:, :self.dim] * v[:, :self.dim], axis=-1)
        if self.out is not None:
            x = tf.concat([u[:, :self.dim], v[:, :self.dim]], axis=-1)
            for layer in self.hidden:
                x = layer(x)
                if self.dropout is not None:
                    x = self.dropout(x, training=training)
            prediction += self.out(x)[:, 0]
        return prediction, u, v

    def predict_pairs(self, users: np.ndarray, items: np.ndarray, low: float, high: float,
                      chunk: int = 65536) -> np.ndarray:
        """Predicted stars, clipped to [low, high]."""
        parts = [self({"user": tf.constant(users[i:i + chunk]),
                       "item": tf.constant(items[i:i + chunk])})[0].numpy()
                 for i in range(0, len(users), chunk)]
        out = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return np.clip(out, low, high)

    def export(self, n_users: int, n_items: int, chunk: int = 65536) -> dict[str, np.ndarray]:
        """What a numpy scorer needs (index/rating.py): users and items [n, dim + 1] (the
        vector, then the bias), and the MLP's layers ("w0", "b0", ... "w_out", "b_out")."""
        def table(bag, n):
            return np.concatenate([bag(tf.range(i, min(i + chunk, n))).numpy()
                                   for i in range(0, n, chunk)]).astype(np.float32)
        arrays = {"users": table(self.users, n_users), "items": table(self.items, n_items)}
        for k, layer in enumerate(self.hidden):
            arrays[f"w{k}"], arrays[f"b{k}"] = (w.numpy() for w in layer.weights)
        if self.out is not None:
            arrays["w_out"], arrays["b_out"] = (w.numpy() for w in self.out.weights)
        return arrays
