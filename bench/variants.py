"""What each part of the film similarity adds: variants of it scored by the run's protocol.

    python -m bench.variants --run RUN [RUN ...] --pairs PAIRS.json --ratings RATINGS_DIR
                             [--result NAME]

For the tables the runs were trained on (the first run's), on the same pairs and taste split
(trainer/quality.py), pair hit@10 and taste AUC of:
  - the co-link cosines: plain, idf, and log(1 + count) x idf (the index's link vectors);
  - for each run: the films' own learned vectors (its model.keras), the exported vectors
    (films made of their links' vectors), and the index's blend of the exported vectors
    with the log-count x idf cosine at several weights (0.5 is the index's default).
Train the runs to compare with `python -m trainer train ... -p train.X=Y`; the run's
settings are printed beside its rows. Prints a table and writes bench/results/NAME.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.results_file import write_result

BLENDS = (0.25, 0.5, 0.75)


class Blend:
    """w x cosine of the vectors + (1 - w) x cosine of the sparse rows (a CoLinkSimilarity)."""

    def __init__(self, vectors, colink, w: float) -> None:
        self.vectors, self.colink, self.w = vectors, colink, w

    def scores(self, films):
        return self.w * self.vectors.scores(films) + (1 - self.w) * self.colink.scores(films)

    def set_scores(self, films):
        return (self.w * self.vectors.set_scores(films)
                + (1 - self.w) * self.colink.set_scores(films))


def log_count_idf(tables):
    """The index's sparse rows (index/colink.py) as a CoLinkSimilarity."""
    import scipy.sparse as sp

    from index.colink import build_arrays
    from trainer.quality import CoLinkSimilarity

    fl = tables.film_links
    arrays = build_arrays(fl[:, 0], fl[:, 1], tables.film_link_counts, tables.n_films,
                          tables.n_links)
    return CoLinkSimilarity(sp.csr_matrix(
        (arrays["film_weights"], arrays["film_links"], arrays["film_indptr"]),
        shape=(tables.n_films, tables.n_links)))


def own_vectors(run: Path) -> np.ndarray:
    """The films' own learned vectors of a run (its model), L2-normalised."""
    import keras

    import trainer.models  # noqa: F401  (registers the custom objects)

    films, _ = keras.models.load_model(run / "model.keras").export_vectors()
    return films


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs="+", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--ratings", type=Path, required=True)
    parser.add_argument("--result", default="variants")
    args = parser.parse_args(argv)
    from trainer.quality import (
        CoLinkSimilarity,
        TasteSplit,
        VectorSimilarity,
        pair_hit_at_k,
        read_pairs,
        taste_auc,
    )
    from trainer.ratings import load_ratings
    from trainer.tables import load_tables

    manifests = [json.loads((r / "manifest.json").read_text()) for r in args.run]
    tables = load_tables(manifests[0]["tables"]["folder"])
    cfg = manifests[0]["config"]
    e = cfg["eval"]
    pairs = read_pairs(args.pairs, tables.film_titles).pairs
    ratings = load_ratings(args.ratings, tables.manifest["id"])
    split = TasteSplit.build(ratings.user, ratings.film, ratings.rating, tables.n_films,
                             min_rating=e["taste_min_rating"], holdout=e["taste_holdout"],
                             seed=cfg["train"]["seed"], max_users=e["taste_max_users"])
    fl = tables.film_links
    sparse = log_count_idf(tables)
    variants = {
        "co-link, plain": CoLinkSimilarity.of_links(fl, tables.n_films, tables.n_links, "plain"),
        "co-link, idf": CoLinkSimilarity.of_links(fl, tables.n_films, tables.n_links, "idf"),
        "co-link, log(1 + count) x idf": sparse,
    }
    for run, manifest in zip(args.run, manifests, strict=True):
        if manifest["tables"]["id"] != tables.manifest["id"]:
            sys.exit(f"bench.variants: {run} was trained on other tables than {args.run[0]}")
        name = f"{run.name} (dim {manifest['dim']})"
        exported = VectorSimilarity(np.load(run / "embeddings" / "films.npy"))
        variants[f"{name}: own film vectors"] = VectorSimilarity(own_vectors(run))
        variants[f"{name}: exported (films of links)"] = exported
        for w in BLENDS:
            variants[f"{name}: {w:g} x exported + {1 - w:g} x log-count idf"] = Blend(
                exported, sparse, w)
    rows = {}
    print("| variant | pair hit@10 | taste AUC |\n|---|---:|---:|")
    for label, sim in variants.items():
        rows[label] = {"pair_hit@10": pair_hit_at_k(sim, pairs, 10),
                       "taste_auc": taste_auc(sim, split)}
        print(f"| {label} | {rows[label]['pair_hit@10']:.3f} | {rows[label]['taste_auc']:.3f} |",
              flush=True)
    write_result(args.result, {"runs": [str(r) for r in args.run], "pairs": str(args.pairs),
                               "ratings": str(args.ratings), "taste_users": split.users,
                               "variants": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
