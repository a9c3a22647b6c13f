"""The Keras embedding model: films and links as normalised vectors; the loss lives in
trainer/steps.py.

Other objectives were measured and removed: films against films (from film_pairs), an
in-batch softmax, an MSE loss, infobox attributes and link types as side features; none
helped the exported vectors on real films (docs/quality.md).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="wikifilms")
class SparseEmbedding(keras.layers.Layer):
    """An embedding table whose lookup reads only the rows it needs.

    Why not keras.layers.Embedding: its `ops.take` reads the whole table into a tensor, and a
    sparse `scatter_sub` into a variable whose buffer is still referenced copies the whole
    table first, every step (docs/stack.md, "Training on the CPU").
    """

    def __init__(self, input_dim: int, output_dim: int, stddev: float = 0.1, seed: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.stddev, self.seed = stddev, seed

    def build(self, input_shape=None) -> None:
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim), name="embeddings",
            initializer=keras.initializers.RandomNormal(stddev=self.stddev, seed=self.seed))

    def call(self, ids):
        rows = tf.nn.embedding_lookup(self.embeddings.value, ids)
        return tf.cast(rows, self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim, "stddev": self.stddev, "seed": self.seed}


def _normalize(x):
    x = tf.cast(x, tf.float32)
    return x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(x * x, axis=-1, keepdims=True), 1e-12))


@keras.saving.register_keras_serializable(package="wikifilms")
class FilmEmbeddingModel(keras.Model):
    """cosine(film vector, link vector), each its own embedding row.

    The films' vectors serve training; the run exports films made of their links' vectors
    (trainer/evaluate.py film_vectors_from_links).
    """

    def __init__(self, n_films: int, n_links: int, dim: int, *, seed: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_films, self.n_links, self.dim, self.seed = n_films, n_links, dim, seed
        self.film_table = SparseEmbedding(n_films, dim, seed=seed, name="films")
        self.link_table = SparseEmbedding(n_links, dim, seed=seed + 1, name="links")
        self.film_table.build()
        self.link_table.build()
        self.built = True  # every variable exists once constructed

    def build(self, input_shape=None) -> None:
        """Nothing to build (the tables are made in __init__); lets load_model rebuild."""
        self.built = True

    def film_vectors(self, films):
        return _normalize(self.film_table(films))

    def link_vectors(self, links):
        return _normalize(self.link_table(links))

    def call(self, inputs):
        """{"query": [B] films, "item": [B, n] links} -> cosine [B, n]."""
        films = self.film_vectors(inputs["query"])[:, None, :]
        return tf.reduce_sum(films * self.link_vectors(inputs["item"]), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_films": self.n_films, "n_links": self.n_links,
                "dim": self.dim, "seed": self.seed}

    def export_vectors(self, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """(films [n_films, dim], links [n_links, dim]), L2-normalised float32."""
        def table(fn, n):
            return np.concatenate([fn(tf.range(i, min(i + chunk, n))).numpy()
                                   for i in range(0, n, chunk)]).astype(np.float32)
        return table(self.film_vectors, self.n_films), table(self.link_vectors, self.n_links)
