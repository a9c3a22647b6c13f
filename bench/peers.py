"""The libraries people would use instead, on our split, scored by our AUC code.

    python -m bench.peers --ranking RANKING_DIR [--films-run RUN_DIR] [--name NAME]

RANKING_DIR is a finished `trainer rank` run: its split (split/*.parquet: the training,
validation and test ratings, the cold items) and its metrics are what every peer is measured
against, so the comparison is on the same ratings, the same held-out items and the same
per-user AUC (trainer/recommend/metrics.py), beside our model's own figures from that run.

Peers (the `peers` extra: `make bench-peers` installs them; LightFM 1.17 builds only with
`pip install --no-build-isolation lightfm` after setuptools < 68, wheel and Cython):
    lightfm_warp   LightFM, WARP loss, item features = the same bags as ours (ids of items with
                   training ratings, genres, the films' Wikipedia links), user ids
    implicit_als   implicit's AlternatingLeastSquares (regularization and alpha chosen among a
                   few on the validation ratings)
    implicit_bpr   implicit's BayesianPersonalizedRanking
    ease           EASE (Steck 2019), closed form; only where its items x items matrix fits
                   (at most 20,000 items: 1.6 GB of float32)
Each is fitted on the training ratings >= rank.min_rating (binary, as these libraries expect);
its epochs or iterations are chosen on our validation ratings (evaluated every few), then
scored on the test ratings and the cold items. Models without item features cannot score an
item nobody rated: their cold AUC is 0.5 by construction (all such items tie). Wall seconds
are fitting and choosing, on this machine's 2 cores (2 threads where the library takes them).
Writes bench/results/peers.json (one entry per --name) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from bench.results_file import RESULTS, write_result

THREADS = 2
EASE_MAX_ITEMS = 20_000


def load_split(ranking: Path) -> dict:
    manifest = json.loads((ranking / "manifest.json").read_text())
    split = {name: pq.read_table(ranking / "split" / f"{name}.parquet").to_pydict()
             for name in ("train", "validation", "test")}
    cold = pq.read_table(ranking / "split" / "cold_items.parquet")["item_id"].to_numpy()
    metrics = json.loads((ranking / "metrics.json").read_text())
    return {"manifest": manifest, "split": split, "cold": cold, "metrics": metrics,
            "n_users": manifest["counts"]["users"], "n_items": manifest["counts"]["items"]}


def tasks(data: dict, cfg) -> dict:
    """The validation, test and cold AUC tasks, as the ranking run built them."""
    from trainer.recommend.metrics import AucTask

    r = cfg["rank"]
    warm = np.ones(data["n_items"], bool)
    warm[data["cold"]] = False
    candidates = np.flatnonzero(warm)
    out = {}
    for name, rows, cands, cap in (("validation", data["split"]["validation"], candidates,
                                    r["validation_max_users"]),
                                   ("test", data["split"]["test"], candidates,
                                    r["eval_max_users"])):
        out[name] = AucTask.build(name, np.array(rows["user_id"]), np.array(rows["item_id"]),
                                  np.array(rows["rating"]), cands, r["min_rating"], cap,
                                  r["seed"])
    return out


def cold_task(ranking: Path, data: dict, cfg):
    """The cold task from the ratings of the cold items (every rating of them)."""
    from trainer.ratings import load_ratings
    from trainer.recommend.metrics import AucTask

    r = cfg["rank"]
    ratings = load_ratings(data["manifest"]["ratings"]["folder"])
    is_cold = np.isin(ratings.item, data["cold"])
    return AucTask.build("cold", ratings.user[is_cold], ratings.item[is_cold],
                         ratings.rating[is_cold], data["cold"], r["min_rating"],
                         r["eval_max_users"], r["seed"]), ratings


def liked_matrix(data: dict, min_rating: float) -> sp.csr_matrix:
    t = data["split"]["train"]
    keep = np.array(t["rating"]) >= min_rating
    user, item = np.array(t["user_id"])[keep], np.array(t["item_id"])[keep]
    m = sp.csr_matrix((np.ones(len(user), np.float32), (user, item)),
                      shape=(data["n_users"], data["n_items"]))
    m.data[:] = 1.0
    return m


def choose(fit_round, rounds: int, every: int, validation, mean_auc) -> dict:
    """Call fit_round(k) -> scorer for k = every, 2 every, ... rounds (each continuing the
    last); keep the scorer with the best validation AUC. {"scorer", "rounds", "validation"}."""
    best = {"validation": -1.0}
    for k in range(every, rounds + 1, every):
        scorer = fit_round(k)
        auc = mean_auc(scorer, validation)
        if auc > best["validation"]:
            best = {"scorer": scorer, "rounds": k, "validation": auc}
    return best


def dense_scorer(users: np.ndarray, items: np.ndarray, item_bias: np.ndarray | None = None,
                 unknown: np.ndarray | None = None):
    """scores(u) = users[u] . items.T (+ item bias); `unknown` items (no training data) all
    score the same, lowest: the library has nothing to say about them."""
    users, items = users.copy(), items.copy()

    def scores(u):
        s = users[u] @ items.T
        if item_bias is not None:
            s = s + item_bias
        if unknown is not None:
            s[:, unknown] = -1e9
        return s
    return scores


def run_lightfm(data, liked, features, validation, mean_auc, epochs: int) -> dict:
    from lightfm import LightFM

    model = LightFM(loss="warp", no_components=32, learning_rate=0.05, random_state=1)
    done = [0]

    def fit_round(k):
        model.fit_partial(liked, item_features=features, epochs=k - done[0],
                          num_threads=THREADS)
        done[0] = k
        bias, vectors = model.get_item_representations(features)
        user_bias, users = model.get_user_representations()
        return dense_scorer(users, vectors, bias)
    return choose(fit_round, epochs, 2, validation, mean_auc)


def run_implicit(kind: str, data, liked, validation, mean_auc, iterations: int,
                 small_grid: bool = False) -> dict:
    import implicit
    from threadpoolctl import threadpool_limits

    unknown = np.asarray(liked.sum(axis=0)).ravel() == 0
    best = {"validation": -1.0}
    # ALS: (regularization, alpha); BPR: (regularization, learning rate).
    grid = ([(reg, alpha) for reg in (1.0, 10.0, 50.0) for alpha in (1.0, 5.0, 20.0)]
            if kind == "als" else [(0.01, 0.01), (0.01, 0.05), (0.001, 0.05)])
    if small_grid:  # the best of MovieLens-100K's grid and one beside it
        grid = [(10.0, 5.0), (50.0, 5.0)] if kind == "als" else [(0.01, 0.05)]
    every = 5 if kind == "als" else 25
    for reg, alpha in grid:
        # A second fit() goes on from the factors of the first (implicit initialises them
        # only when there are none): `every` more iterations a round.
        if kind == "als":
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=64, regularization=reg, alpha=alpha, iterations=every,
                random_state=1, num_threads=THREADS)
        else:
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(
                factors=64, learning_rate=alpha, regularization=reg, iterations=every,
                random_state=1, num_threads=THREADS)

        def fit_round(k, model=model):
            # implicit's own threads, not BLAS's as well (its advice: threadpoolctl).
            with threadpool_limits(1, "blas"):
                model.fit(liked, show_progress=False)
            return dense_scorer(model.user_factors, model.item_factors, unknown=unknown)
        found = choose(fit_round, iterations, every, validation, mean_auc)
        if found["validation"] > best["validation"]:
            best = {**found, "regularization": reg,
                    ("alpha" if kind == "als" else "learning_rate"): alpha}
    return best


def run_ease(data, liked, validation, mean_auc) -> dict | None:
    n = liked.shape[1]
    if n > EASE_MAX_ITEMS:
        return None
    gram = (liked.T @ liked).toarray().astype(np.float64)
    unknown = np.asarray(liked.sum(axis=0)).ravel() == 0
    best = {"validation": -1.0}
    for lam in (100.0, 300.0, 1000.0, 3000.0):
        p = np.linalg.inv(gram + lam * np.eye(n))
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0.0)

        def scores(u, b=b):
            s = np.asarray(liked[u] @ b)
            s[:, unknown] = -1e9
            return s
        auc = mean_auc(scores, validation)
        if auc > best["validation"]:
            best = {"scorer": scores, "lambda": lam, "validation": auc}
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranking", type=Path, required=True, help="a finished ranking run")
    parser.add_argument("--films-run", type=Path, help="the films run the ranking run used")
    parser.add_argument("--name", default="movielens-100k", help="this data set's entry")
    parser.add_argument("--epochs", type=int, default=30, help="LightFM's epochs at most")
    parser.add_argument("--iterations", type=int, default=30, help="ALS iterations at most")
    parser.add_argument("--bpr-iterations", type=int, default=200)
    parser.add_argument("--only", default="lightfm_warp,implicit_als,implicit_bpr,ease")
    parser.add_argument("--small-grid", action="store_true",
                        help="two ALS settings and one BPR setting (at 25M: hours otherwise)")
    args = parser.parse_args(argv)
    from conf import load_config
    from trainer.ratings import load_catalogue
    from trainer.recommend.inputs import catalogue_features, load_films_run
    from trainer.recommend.metrics import mean_auc

    data = load_split(args.ranking)
    cfg = load_config(None, [])
    cfg["rank"].update(data["manifest"]["config"]["rank"])
    t = tasks(data, cfg)
    cold, ratings = cold_task(args.ranking, data, cfg)
    liked = liked_matrix(data, cfg["rank"]["min_rating"])
    ours = data["metrics"]["auc"]
    model = data["metrics"]["model"]
    results = {"ours": {"test": ours["test"][model], "cold": ours["cold"][model],
                        "seconds": data["manifest"]["seconds"], "model": model},
               "baselines": {k: {"test": ours["test"][k], "cold": ours["cold"][k]}
                             for k in ("popularity", "item_knn", "content_knn")
                             if k in ours["test"]}}
    only = args.only.split(",")
    for name in only:
        started = time.perf_counter()
        if name == "lightfm_warp":
            catalogue = load_catalogue(ratings)
            trained = np.asarray(liked.sum(axis=0)).ravel() > 0
            films = load_films_run(args.films_run) if args.films_run else None
            use = ["ids", "genres"] + (["links"] if films else [])
            features = catalogue_features(use, catalogue, trained, films,
                                          cfg["rank"]["link_min_items"]).matrix()
            found = run_lightfm(data, liked, features.tocsr(), t["validation"], mean_auc,
                                args.epochs)
            found["features"] = use
        elif name in ("implicit_als", "implicit_bpr"):
            kind = name.split("_")[1]
            found = run_implicit(kind, data, liked, t["validation"], mean_auc,
                                 args.iterations if kind == "als" else args.bpr_iterations,
                                 args.small_grid)
        else:
            found = run_ease(data, liked, t["validation"], mean_auc)
            if found is None:
                results[name] = {"skipped": f"{liked.shape[1]:,} items: its items x items "
                                            f"matrix does not fit (> {EASE_MAX_ITEMS:,})"}
                continue
        scorer = found.pop("scorer")
        results[name] = {**found, "test": mean_auc(scorer, t["test"]),
                         "cold": mean_auc(scorer, cold),
                         "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name:14s} test {results[name]['test']:.4f} cold {results[name]['cold']:.4f} "
              f"({results[name]['seconds']:.0f} s)", flush=True)
    previous = RESULTS / "peers.json"
    sets = json.loads(previous.read_text())["sets"] if previous.exists() else {}
    sets[args.name] = {"ranking_run": str(args.ranking), "counts": data["manifest"]["counts"],
                       **results}
    from importlib.metadata import version

    path = write_result("peers", {"sets": sets, "protocol": __doc__.split("Peers", 1)[0]},
                        lightfm=version("lightfm"), implicit=version("implicit"))
    print(f"\nours ({model}): test {results['ours']['test']:.4f} cold "
          f"{results['ours']['cold']:.4f}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
