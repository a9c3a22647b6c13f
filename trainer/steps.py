"""Losses and the compiled train step: thin functions returning a dict of metrics."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from trainer.models import FilmEmbeddingModel


def pointwise_loss(model: FilmEmbeddingModel, batch: dict, logit_scale: float) -> tf.Tensor:
    """Mean logistic loss of one replica's rows (1 / 0 labels against logit_scale x cosine);
    masked (weight 0) rows count for nothing."""
    cosine = model(batch)
    label, weight = batch["label"], batch["weight"]
    per_row = tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=logit_scale * cosine)
    return tf.reduce_sum(per_row * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


def make_l2_step(model, optimizer, loss_of, l2: float, jit_compile: bool) -> Callable:
    """A compiled step of the models on ratings: `loss_of(batch)` -> (mean loss, the batch's
    user vectors, its item vectors); L2 `l2` on those vectors; the gradient of the
    sum over the batch's rows (as make_train_step: a row's update does not shrink with the
    batch size). Returns the mean loss."""
    @tf.function(jit_compile=jit_compile)
    def step(batch):
        with tf.GradientTape() as tape:
            loss, users, items = loss_of(batch)
            reg = l2 * (tf.reduce_mean(tf.reduce_sum(users * users, -1))
                        + tf.reduce_mean(tf.reduce_sum(items * items, -1)))
            total = (loss + reg) * tf.cast(tf.shape(users)[0], tf.float32)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return loss
    return step


def make_train_step(model: FilmEmbeddingModel, optimizer, loss_fn: Callable[[dict], tf.Tensor],
                    strategy: tf.distribute.Strategy, jit_compile: bool) -> Callable:
    """A tf.function running one step on every replica; returns {"loss": mean loss}."""
    def replica_step(batch):
        with tf.GradientTape() as tape:
            loss = loss_fn(batch)
            # Differentiate the loss summed over the positives (each with its negatives), not
            # the mean: an embedding row then gets the gradient of the examples it is in, as
            # in word2vec, whatever the batch size. With the mean, every row's gradient
            # shrinks as 1/B and large batches barely move the table. Replicas' gradients
            # are summed, so the global step is the sum over the global batch.
            scaled = loss * tf.cast(tf.shape(batch["query"])[0], loss.dtype)
        variables = model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    step_fn = tf.function(replica_step, jit_compile=jit_compile)

    @tf.function
    def train_step(batch):
        losses = strategy.run(step_fn, args=(batch,))
        return {"loss": strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)}

    return train_step
