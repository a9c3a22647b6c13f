"""Update rules that touch only the embedding rows a batch used.

Keras 3's Adam, Nadam and Adagrad turn a sparse (IndexedSlices) gradient into a dense update of
the whole table and its slots every step (docs/stack.md). SparseAdagrad scatters into the rows in
the gradient only, and is XLA-compilable (no tf.unique): the accumulator takes the sum of the
squared per-occurrence gradients, then each occurrence is scaled by its row's accumulator.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="wikifilms")
class SparseAdagrad(keras.optimizers.Optimizer):
    """Adagrad with row-sparse updates for IndexedSlices gradients (dense ones as usual)."""

    def __init__(self, learning_rate: float = 0.2, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, name: str = "sparse_adagrad", **kwargs) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator",
            initializer=keras.initializers.Constant(self.initial_accumulator_value))

    def update_step(self, gradient, variable, learning_rate) -> None:
        accumulator = self._accumulators[self._get_variable_index(variable)]
        lr = tf.cast(learning_rate, variable.dtype)
        if isinstance(gradient, tf.IndexedSlices):
            values = tf.cast(gradient.values, variable.dtype)
            self.assign_add(accumulator, tf.IndexedSlices(tf.square(values), gradient.indices))
            rows = tf.gather(accumulator.value, gradient.indices)
            step = lr * values * tf.math.rsqrt(rows + self.epsilon)
            self.assign_sub(variable, tf.IndexedSlices(step, gradient.indices))
        else:
            gradient = tf.cast(gradient, variable.dtype)
            self.assign_add(accumulator, tf.square(gradient))
            self.assign_sub(variable, lr * gradient * tf.math.rsqrt(accumulator + self.epsilon))

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """"adagrad" -> SparseAdagrad; "sgd" -> Keras SGD (its IndexedSlices path is sparse)."""
    if name == "adagrad":
        return SparseAdagrad(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}")
