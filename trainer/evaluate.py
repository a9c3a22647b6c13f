"""Held-out metrics from exported vectors (numpy): AUC, recall@k, MRR.

Used after every epoch and by `python -m trainer evaluate`; the same function scores the
co-link baseline, so the numbers are comparable.

- AUC: each held-out positive (film, link) against `negatives_per_positive` links drawn
  uniformly among the links that film does not link to; the share of (positive, negative)
  pairs ordered correctly (ties count half). Knowing which links are popular scores near 1.
- AUC, popularity-matched (`auc_popularity_matched`): the same with negatives drawn in
  proportion to how many (training) films link to them, as the positives are: knowing
  popularity alone scores 0.5.
- recall@k: for up to `max_films` films with held-out links, every link is ranked by score
  with the film's training links removed; the share of its held-out links in the top k,
  averaged over films.
- MRR: the mean over those films of 1 / rank of the best-ranked held-out link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from trainer.arrays import sorted_unique


def _keys(pairs: np.ndarray, n_links: int) -> np.ndarray:
    return pairs[:, 0].astype(np.int64) * n_links + pairs[:, 1]


def _is_in(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


@dataclass
class HeldOut:
    """The held-out positives and what scoring them needs, built once per run."""

    positives: np.ndarray  # [P, 2] film, link
    negatives: np.ndarray  # [P, E] links, uniform
    popular_negatives: np.ndarray  # [P, E] links, drawn by film count
    films: np.ndarray  # [F] films ranked for recall / MRR
    train_links: list[np.ndarray]  # per ranked film: links to remove from its ranking
    heldout_links: list[np.ndarray]  # per ranked film: its held-out links
    n_links: int

    @classmethod
    def build(cls, train: np.ndarray, heldout: np.ndarray, n_links: int,
              negatives_per_positive: int, max_films: int, seed: int,
              max_positives: int = 200_000) -> HeldOut:
        rng = np.random.default_rng(seed)
        if len(heldout) > max_positives:
            heldout = heldout[np.sort(rng.choice(len(heldout), max_positives, replace=False))]
        known = sorted_unique(np.concatenate([_keys(train, n_links), _keys(heldout, n_links)]))
        films = np.repeat(heldout[:, 0:1], negatives_per_positive, axis=1)
        film_count = np.bincount(train[:, 1], minlength=n_links).astype(np.float64)

        def draw(size: int, p: np.ndarray | None) -> np.ndarray:
            return rng.choice(n_links, size=size, p=p)

        by_count = film_count / film_count.sum() if film_count.sum() else None
        negatives_of = {}
        for name, p in (("uniform", None), ("popular", by_count)):
            negatives = draw(films.size, p).reshape(films.shape)
            for _ in range(10):  # re-draw links the film does link to
                hit = _is_in(known, films.astype(np.int64) * n_links + negatives)
                if not hit.any():
                    break
                negatives[hit] = draw(int(hit.sum()), p)
            negatives_of[name] = negatives
        ranked = np.unique(heldout[:, 0])
        if len(ranked) > max_films:
            ranked = np.sort(rng.choice(ranked, max_films, replace=False))
        by_film_train = _group(train, ranked)
        by_film_held = _group(heldout, ranked)
        return cls(positives=heldout, negatives=negatives_of["uniform"],
                   popular_negatives=negatives_of["popular"], films=ranked,
                   train_links=by_film_train, heldout_links=by_film_held, n_links=n_links)


def held_out_for(train: np.ndarray, heldout: np.ndarray, n_links: int, cfg) -> HeldOut:
    """HeldOut.build with the run's [eval] settings and [train] seed."""
    e = cfg["eval"]
    return HeldOut.build(train, heldout, n_links, e["negatives_per_positive"], e["max_films"],
                         cfg["train"]["seed"])


def _group(pairs: np.ndarray, films: np.ndarray) -> list[np.ndarray]:
    """The links of each film in `films` (sorted), from (film, link) rows."""
    order = np.argsort(pairs[:, 0], kind="stable")
    sorted_pairs = pairs[order]
    lo = np.searchsorted(sorted_pairs[:, 0], films, side="left")
    hi = np.searchsorted(sorted_pairs[:, 0], films, side="right")
    return [sorted_pairs[a:b, 1] for a, b in zip(lo, hi, strict=True)]


def auc_per_positive(film_vectors: np.ndarray, link_vectors: np.ndarray,
                     held: HeldOut, popularity_matched: bool = False) -> np.ndarray:
    """For each held-out positive, the share of its sampled negatives it outscores (ties half)."""
    f, v = film_vectors, link_vectors
    negatives = held.popular_negatives if popularity_matched else held.negatives
    pos = np.einsum("ij,ij->i", f[held.positives[:, 0]], v[held.positives[:, 1]])
    neg = np.einsum("ijk,ik->ij", v[negatives], f[held.positives[:, 0]])
    return np.mean((neg < pos[:, None]) + 0.5 * (neg == pos[:, None]), axis=1)


def evaluate_vectors(film_vectors: np.ndarray, link_vectors: np.ndarray, held: HeldOut,
                     recall_at: list[int], chunk: int = 256) -> dict[str, float]:
    """Metrics for L2-normalised vectors (cosine = dot product)."""
    f, v = film_vectors, link_vectors
    auc = float(np.mean(auc_per_positive(f, v, held)))
    recall = {k: [] for k in recall_at}
    reciprocal_ranks = []
    for start in range(0, len(held.films), chunk):
        films = held.films[start:start + chunk]
        scores = f[films] @ v.T
        for row, i in enumerate(range(start, start + len(films))):
            scores[row, held.train_links[i]] = -np.inf
        for row, i in enumerate(range(start, start + len(films))):
            s, targets = scores[row], held.heldout_links[i]
            target_scores = s[targets]
            best = target_scores.max()
            reciprocal_ranks.append(1.0 / (1 + np.count_nonzero(s > best)))
            for k in recall_at:
                kth = np.partition(s, -k)[-k] if k < len(s) else -np.inf
                recall[k].append(np.count_nonzero(target_scores >= kth) / len(targets))
    metrics = {"auc": auc, "mrr": float(np.mean(reciprocal_ranks)),
               "auc_popularity_matched": float(np.mean(
                   auc_per_positive(f, v, held, popularity_matched=True)))}
    metrics.update({f"recall@{k}": float(np.mean(v)) for k, v in recall.items()})
    return metrics


def auc_by_link_films(film_vectors: np.ndarray, link_vectors: np.ndarray, held: HeldOut,
                      link_film_count: np.ndarray,
                      edges: tuple[int, ...] = (1, 5, 10, 30, 200)) -> dict[str, dict]:
    """Held-out AUC split by how many films link to the held-out link ("5-9": links on 5 to
    9 films): where the overall AUC is lost. Rare links (people in one or two casts) are
    near chance by construction; a model change shows up in the middle buckets."""
    per_positive = auc_per_positive(film_vectors, link_vectors, held)
    counts = link_film_count[held.positives[:, 1]]
    report = {}
    for low, high in zip(edges, (*edges[1:], None), strict=True):
        in_bucket = (counts >= low) & (counts < high if high else True)
        if in_bucket.any():
            label = f"{low}-{high - 1}" if high else f"{low}+"
            report[label] = {"share": float(in_bucket.mean()),
                             "auc": float(per_positive[in_bucket].mean())}
    return report


def film_vectors_from_links(link_vectors: np.ndarray, film_links: np.ndarray,
                            counts: np.ndarray, n_films: int) -> np.ndarray:
    """A film as the normalised sum of its links' (unit) vectors, each weighted by how often
    the article links it: the vectors a run exports. Built from the learned link vectors, a
    film's vector reflects what its links share with other films' links, and a film needs
    only its links, not a vector of its own (measured against the films' own learned vectors
    on real films: docs/quality.md)."""
    weights = sp.csr_matrix((counts.astype(np.float64), (film_links[:, 0], film_links[:, 1])),
                            shape=(n_films, len(link_vectors)))
    links = link_vectors / np.maximum(np.linalg.norm(link_vectors, axis=1, keepdims=True), 1e-12)
    sums = np.asarray(weights @ links.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)
