"""The Keras embedding model: films and links (or films and films) as normalised vectors.

One model class covers the three objectives; they differ in the items (links, or films for
film_film) and in the loss, which lives in trainer/steps.py. Side features are constructor
arguments: attribute ids per film (their mean vector is added to the film's own) and a type
per link (its vector is added to the link's own).
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
    table first. Measured here (500k x 64, batch 16k, SGD, no XLA): 108 ms a step with
    keras.layers.Embedding, 6 ms with `tf.nn.embedding_lookup` on the variable.
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
    """cosine(film vector, item vector); items are links, or films when `shared_items`.

    film vector = own embedding [+ mean of its attribute embeddings]
    link vector = own embedding [+ its type's embedding]
    """

    def __init__(self, n_films: int, n_links: int, dim: int, *, shared_items: bool = False,
                 attribute_shape: tuple[int, int] | None = None, n_attributes: int = 0,
                 n_link_types: int = 0, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_films, self.n_links, self.dim = n_films, n_links, dim
        self.shared_items = shared_items
        self.attribute_shape = tuple(attribute_shape) if attribute_shape else None
        self.n_attributes, self.n_link_types, self.seed = n_attributes, n_link_types, seed
        self.film_table = SparseEmbedding(n_films, dim, seed=seed, name="films")
        self.link_table = None if shared_items else SparseEmbedding(
            n_links, dim, seed=seed + 1, name="links")
        self.attribute_table = None
        if self.attribute_shape:
            # One extra zero-initialised row is the padding id; it never gets a gradient.
            self.attribute_table = SparseEmbedding(n_attributes + 1, dim, stddev=0.0,
                                                   seed=seed + 2, name="attributes")
        self.type_table = (SparseEmbedding(n_link_types, dim, stddev=0.0, seed=seed + 3,
                                           name="link_types") if n_link_types else None)
        self.film_table.build()
        if self.link_table is not None:
            self.link_table.build()
        if self.attribute_table is not None:
            self.attribute_table.build()
            self.film_attributes = self.add_weight(
                shape=self.attribute_shape, dtype="int32", trainable=False,
                initializer="zeros", name="film_attributes")
        if self.type_table is not None:
            self.type_table.build()
            self.link_type_ids = self.add_weight(
                shape=(n_links,), dtype="int32", trainable=False, initializer="zeros",
                name="link_type_ids")

        self.built = True  # every variable exists once constructed

    def build(self, input_shape=None) -> None:
        """Nothing to build (the tables are made in __init__); lets load_model rebuild."""
        self.built = True

    def set_side_features(self, attributes: np.ndarray | None, types: np.ndarray | None) -> None:
        if attributes is not None:
            self.film_attributes.assign(attributes)
        if types is not None:
            self.link_type_ids.assign(types)

    def film_vectors(self, films, normalize: bool = True):
        vectors = self.film_table(films)
        if self.attribute_table is not None:
            ids = tf.gather(self.film_attributes.value, films)
            present = tf.cast(ids < self.n_attributes, vectors.dtype)[..., None]
            summed = tf.reduce_sum(self.attribute_table(ids) * present, axis=-2)
            vectors = vectors + summed / tf.maximum(tf.reduce_sum(present, axis=-2), 1.0)
        return _normalize(vectors) if normalize else vectors

    def item_vectors(self, items, normalize: bool = True):
        if self.shared_items:
            return self.film_vectors(items, normalize)
        vectors = self.link_table(items)
        if self.type_table is not None:
            vectors = vectors + self.type_table(tf.gather(self.link_type_ids.value, items))
        return _normalize(vectors) if normalize else vectors

    def call(self, inputs):
        """{"film": [B], "item": [B, n]} -> cosine [B, n]."""
        films = self.film_vectors(inputs["film"])[:, None, :]
        return tf.reduce_sum(films * self.item_vectors(inputs["item"]), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_films": self.n_films, "n_links": self.n_links,
                "dim": self.dim, "shared_items": self.shared_items,
                "attribute_shape": self.attribute_shape, "n_attributes": self.n_attributes,
                "n_link_types": self.n_link_types, "seed": self.seed}

    def export_vectors(self, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray | None]:
        """(films [n_films, dim], links [n_links, dim] or None), L2-normalised float32."""
        def table(fn, n):
            return np.concatenate([fn(tf.range(i, min(i + chunk, n))).numpy()
                                   for i in range(0, n, chunk)]).astype(np.float32)
        films = table(self.film_vectors, self.n_films)
        links = None if self.shared_items else table(self.item_vectors, self.n_links)
        return films, links
