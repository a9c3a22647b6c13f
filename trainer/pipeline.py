"""tf.data input pipelines: positives shuffled per epoch, negatives sampled in the graph.

Every batch is a pure function of (seed, epoch, step): the positives are a stateless shuffle of
the training pairs for the epoch, and each step's negatives come from stateless random ops
seeded with (seed, epoch, step). So a run is reproducible, batches can be built in parallel,
and `--resume` rebuilds exactly the batches an interrupted run would have seen next.
No Python runs per example or per batch.

Batch layout, B positives and k negatives each (the query is a film for the film and link
vectors, a user for the ranking model):
    query   int32 [B]          the query of each positive
    item    int32 [B, 1 + k]   column 0 the positive link, then k negative links
    label   float32 [B, 1 + k] 1 for the positive, 0 for negatives
    weight  float32 [B, 1 + k] 0 for masked accidental positives, else 1
Rows are per positive so that a distribution strategy splitting the batch gives every
replica its own positives with their negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from trainer.arrays import sorted_unique

# A second seed word per purpose, so streams never coincide.
_POSITIVES, _NEGATIVES, _REDRAW = 1, 2, 3


@dataclass
class PairSampler:
    """What the in-graph samplers need, as constant tensors.

    known: a hash table of every training positive's key (query * n_items + item), where an
    accidental hit is looked up (6 ms for 65,536 keys among 20M, where a binary search over
    them all took ~40 ms and was the pipeline's largest cost at MovieLens-25M's size).
    negative_cdf: cumulative sampling probabilities over items, by item_counts ** power
    (word2vec's 0.75: uniform negatives were measured worse, docs/quality.md).
    """

    n_items: int
    known: tf.lookup.StaticHashTable
    negative_cdf: tf.Tensor

    @classmethod
    def build(cls, positives: np.ndarray, n_items: int, item_counts: np.ndarray,
              power: float) -> PairSampler:
        p = np.power(np.maximum(item_counts.astype(np.float64), 1.0), power)
        return cls.from_weights(positives, p)

    @classmethod
    def from_weights(cls, positives: np.ndarray, weights: np.ndarray) -> PairSampler:
        """Negatives drawn in proportion to `weights` [n_items] (0: never drawn)."""
        n_items = len(weights)
        keys = sorted_unique(positives[:, 0].astype(np.int64) * n_items + positives[:, 1])
        known = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64),
                                                tf.ones(len(keys), tf.int32)),
            default_value=tf.constant(0, tf.int32))
        p = weights.astype(np.float64)
        return cls(n_items=n_items, known=known,
                   negative_cdf=tf.constant(np.cumsum(p) / p.sum(), dtype=tf.float64))

    def is_known(self, films: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
        """bool, shape of broadcast(films, items): is (film, item) a training positive?"""
        keys = tf.cast(films, tf.int64) * self.n_items + tf.cast(items, tf.int64)
        return self.known.lookup(keys) > 0

    def draw(self, shape, seed: tf.Tensor) -> tf.Tensor:
        """int32 items of `shape`, by the sampler's frequency power."""
        u = tf.random.stateless_uniform(shape, seed, dtype=tf.float64)
        flat = tf.searchsorted(self.negative_cdf, tf.reshape(u, [-1]), side="right")
        return tf.reshape(tf.minimum(tf.cast(flat, tf.int32), self.n_items - 1), shape)

    def negatives(self, films: tf.Tensor, k: int, seed: tf.Tensor, policy: str,
                  rounds: int) -> tuple[tf.Tensor, tf.Tensor]:
        """(items int32 [B, k], weights float32 [B, k]) for films [B].

        policy "reject": accidental positives are re-drawn up to `rounds` times, and any left
        after that are masked; "mask": weight 0. (Training on them as negatives was measured
        worse: docs/quality.md.)
        """
        shape = tf.stack([tf.shape(films)[0], k])
        items = self.draw(shape, seed)
        column = films[:, None]
        hit = self.is_known(column, items)
        if policy == "reject":
            # Only the hits are drawn again and looked up again (a few in a thousand).
            queries = tf.broadcast_to(column, shape)
            for r in range(rounds):
                redraw = self.draw(shape, tf.stack([seed[0], seed[1] * 16 + _REDRAW + 4 * r]))
                at = tf.where(hit)
                again = tf.gather_nd(redraw, at)
                items = tf.tensor_scatter_nd_update(items, at, again)
                hit = tf.tensor_scatter_nd_update(
                    hit, at, self.is_known(tf.gather_nd(queries, at), again))
        return items, 1.0 - tf.cast(hit, tf.float32)


def _epoch_seed(seed: int, epoch, purpose: int) -> tf.Tensor:
    """The stateless seed of one epoch's stream for `purpose`."""
    return tf.stack([tf.constant(seed, tf.int64),
                     tf.cast(epoch, tf.int64) * 8 + purpose])


def _step_seed(seed: int, epoch, purpose: int, step) -> tf.Tensor:
    """The stateless seed of one step's draw for `purpose` (steps < 1,000,003 never collide)."""
    return tf.stack([tf.constant(seed, tf.int64),
                     (tf.cast(epoch, tf.int64) * 8 + purpose) * 1_000_003 + step])


def auto_batch_size(rows: int, smallest: int, per_step: int = 1000,
                    largest: int = 65536) -> int:
    """A batch for `rows` examples an epoch: rows / per_step rounded to a power of two, at
    least `smallest`, at most `largest`. Each step of the models on ratings costs a fixed
    part (every item's feature bag, the optimizer) beside the batch's own: MovieLens-100K
    keeps its small batches, 25M (20M training positives) takes 16,384 a step, 16x fewer
    steps at the same learning rate (bench/README.md, "Real size")."""
    wanted = 2 ** round(np.log2(max(rows / per_step, 1)))
    return int(min(max(wanted, smallest), largest))


def steps_per_epoch(n_positives: int, batch_size: int) -> int:
    return max(1, -(-n_positives // batch_size))


def shuffled_rows(n: int, batch_size: int, seed: int, epoch: int,
                  first_step: int = 0) -> tf.data.Dataset:
    """(step, rows [B]) for one epoch from `first_step` on: a stateless shuffle of 0..n-1 cut
    into batches of exactly B (the last wraps around to the start of the permutation: static
    shapes for XLA)."""
    batch_size = min(batch_size, n)
    order = tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int32), seed=_epoch_seed(seed, epoch, _POSITIVES))

    def batch(step):
        return step, tf.gather(order, (tf.cast(step, tf.int32) * batch_size
                                       + tf.range(batch_size, dtype=tf.int32)) % n)

    steps = tf.data.Dataset.range(first_step, steps_per_epoch(n, batch_size))
    return steps.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def weighted_rows(counts: np.ndarray, batch_size: int, seed: int, epoch: int,
                  first_step: int = 0) -> tf.data.Dataset:
    """(step, rows [B]) for one epoch, row i drawn in proportion to counts[i]: with c = the
    counts scaled to a mean of 1, row i is in the epoch floor(c) times and once more with
    probability c - floor(c) (stateless, by seed and epoch), the epoch's rows shuffled and
    cut into batches of B (wrapping around). An epoch holds ~len(counts) rows, as many steps
    as without counts; drawing each step's rows from the cumulative counts instead cost a
    binary search a row (11 ms a batch of 16,384 at 20M rows)."""
    n = len(counts)
    batch_size = min(batch_size, n)
    scaled = np.asarray(counts, np.float64) * n / np.sum(counts)
    whole = tf.constant(np.floor(scaled).astype(np.int32))
    part = tf.constant(scaled - np.floor(scaled))
    extra = tf.random.stateless_uniform([n], _epoch_seed(seed, epoch, _REDRAW),
                                        dtype=tf.float64) < part
    rows = tf.repeat(tf.range(n, dtype=tf.int32), whole + tf.cast(extra, tf.int32))
    order = tf.random.experimental.stateless_shuffle(rows,
                                                     seed=_epoch_seed(seed, epoch, _POSITIVES))
    size = tf.size(order)

    def batch(step):
        return step, tf.gather(order, (tf.cast(step, tf.int32) * batch_size
                                       + tf.range(batch_size, dtype=tf.int32)) % size)

    steps = tf.data.Dataset.range(first_step, steps_per_epoch(n, batch_size))
    return steps.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def rating_batches(user: np.ndarray, item: np.ndarray, rating: np.ndarray, *, batch_size: int,
                   seed: int, epoch: int, first_step: int = 0) -> tf.data.Dataset:
    """{"query": users [B], "item": items [B], "rating": [B]}: every rating once an epoch, in
    a stateless shuffle (so a resumed fit sees the batches an uninterrupted one would)."""
    users = tf.constant(user, tf.int32)
    items = tf.constant(item, tf.int32)
    ratings = tf.constant(rating, tf.float32)

    def gather(step, rows):
        return {"query": tf.gather(users, rows), "item": tf.gather(items, rows),
                "rating": tf.gather(ratings, rows)}

    return (shuffled_rows(len(user), batch_size, seed, epoch, first_step)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def positive_batches(positives: np.ndarray, batch_size: int, seed: int, epoch: int,
                     counts: np.ndarray | None = None, first_step: int = 0,
                     shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """(step, films [B], items [B]) for one epoch, starting at `first_step`.

    Without counts: a stateless shuffle of all positives, cut into batches of exactly B (the
    last batch wraps around to the start of the permutation: static shapes for XLA). With
    counts: B positives drawn with probability proportional to their count, per step.
    """
    n = len(positives)
    batch_size = min(batch_size, n)
    films_t = tf.constant(positives[:, 0], tf.int32)
    items_t = tf.constant(positives[:, 1], tf.int32)

    index, shards = shard

    def gather(step, rows):
        if shards > 1:  # this worker's share of the step's global batch (whole rows only)
            part = batch_size // shards
            rows = rows[index * part:(index + 1) * part]
        return step, tf.gather(films_t, rows), tf.gather(items_t, rows)

    if counts is None:
        rows = shuffled_rows(n, batch_size, seed, epoch, first_step)
    else:
        rows = weighted_rows(counts, batch_size, seed, epoch, first_step)
    return rows.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def pointwise_dataset(positives: np.ndarray, sampler: PairSampler, *, batch_size: int,
                      negatives_per_positive: int, policy: str, reject_rounds: int, seed: int,
                      epoch: int, counts: np.ndarray | None = None,
                      first_step: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """Batches (layout in the module docstring), one epoch. With `shard` = (i, n), part i
    of n of each step's batch: what worker i of n trains on (every worker the same steps,
    the global batch theirs together)."""
    k = negatives_per_positive

    index, shards = shard

    def add_negatives(step, films, items):
        # Each worker its own draws (one worker: the step's own seed, as before).
        draw = step * shards + index
        negatives, weights = sampler.negatives(films, k, _step_seed(seed, epoch, _NEGATIVES, draw),
                                               policy, reject_rounds)
        b = tf.shape(films)[0]
        return {
            "query": films,
            "item": tf.concat([items[:, None], negatives], axis=1),
            "label": tf.concat([tf.ones([b, 1]), tf.zeros([b, k])], axis=1),
            "weight": tf.concat([tf.ones([b, 1]), weights], axis=1),
        }

    ds = positive_batches(positives, batch_size, seed, epoch, counts, first_step, shard)
    return ds.map(add_negatives, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)
