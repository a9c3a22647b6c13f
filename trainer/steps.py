"""Losses and the compiled train step: thin functions returning a dict of metrics."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from trainer.models import FilmEmbeddingModel


def pointwise_loss(model: FilmEmbeddingModel, batch: dict, loss: str,
                   logit_scale: float) -> tf.Tensor:
    """Mean loss of one replica's rows; masked (weight 0) rows count for nothing.

    "mse": the classic regression of the cosine on +1 / -1 labels.
    "logistic": cross-entropy of 1 / 0 labels against logit_scale * cosine.
    """
    cosine = model(batch)
    label, weight = batch["label"], batch["weight"]
    if loss == "mse":
        per_row = tf.square(cosine - (2.0 * label - 1.0))
    else:
        per_row = tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=logit_scale * cosine)
    return tf.reduce_sum(per_row * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


def softmax_loss(model: FilmEmbeddingModel, batch: dict, log_q: tf.Tensor,
                 logit_scale: float) -> tf.Tensor:
    """In-batch softmax: each film's own link against the batch's other links.

    Popular links are in many batches, so they are negatives more often than their share of
    the catalogue: the logQ correction (subtracting log sampling probability) undoes that.
    Accidental hits (batch["hits"], from the pipeline: another row's link that this film also
    links to) are removed from the denominator.
    """
    films, links = batch["film"], batch["item"]
    # The [B, B] product is this loss's one large computation: it runs in the model's compute
    # dtype (float16 under train.mixed_precision; the unit vectors fit it), the softmax in
    # float32. No loss scaling: the loss is a sum over rows, so the gradients that reach the
    # float16 product are (p - y) * logit_scale; only those of p below ~1e-8 flush to zero,
    # next to gradients of order one. (Reasoned, not measured on a GPU.)
    u = tf.cast(model.film_vectors(films), model.compute_dtype)
    v = tf.cast(model.item_vectors(links), model.compute_dtype)
    logits = (logit_scale * tf.cast(tf.matmul(u, v, transpose_b=True), tf.float32)
              - tf.gather(log_q, links)[None, :])
    if "hits" in batch:
        logits = tf.where(batch["hits"], tf.constant(-1e9, logits.dtype), logits)
    labels = tf.range(tf.shape(films)[0])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


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
            scaled = loss * tf.cast(tf.shape(batch["film"])[0], loss.dtype)
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
