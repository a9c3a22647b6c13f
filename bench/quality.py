"""Quality on real data: dump -> tables -> ratings -> train -> index, then the film
similarity of each against the baselines, in one run.

    python -m bench.quality [--dump PATH] [--truth PATH] [--ratings PATH] [--result NAME]

Defaults: the films-cast dump and its sequel pairs (../shared/data/films-cast) and
MovieLens-100K (../shared/data/movielens-100k); `make bench-quality`. Each stage runs as a
user runs it (its `python -m` command, default settings) into a temporary folder, timed.
Then, on the same films, pairs and split (trainer/quality.py states the protocol):

- pair hit@10 and taste AUC of the plain and idf-weighted co-link cosines, of popularity
  (taste only) and of the run's exported film vectors: the run's own quality report;
- the same of the index's answers (`python -m index query`'s ranking: index/query.py), pair
  hit@10 through `nearest` as a query runs it, taste through `film_scores` over all films.

Prints a table and writes bench/results/quality.json. Says so and stops when the data is
absent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results_file import write_result

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
DUMP = SHARED / "films-cast" / "enwiki-films-cast-dev.xml.bz2"
TRUTH = SHARED / "films-cast" / "truth.json"
RATINGS = SHARED / "movielens-100k" / "ml-100k"
COLUMNS = ("colink_plain", "colink_idf", "popularity", "vectors", "answers")
HEADS = ("plain co-link", "idf co-link", "popularity", "film vectors (trainer)",
         "answers (index query)")


def stage(name: str, argv: list[str], timings: dict[str, float]) -> None:
    """Run one stage's command as a user would; its seconds into `timings`."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True)
    timings[name] = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        sys.exit(f"bench.quality: {name} failed ({' '.join(argv)}):\n{done.stderr[-3000:]}")


class IndexAnswers:
    """The index's ranking as a trainer.quality similarity (taste: film_scores)."""

    def __init__(self, side) -> None:
        self.side = side

    def set_scores(self, films: np.ndarray) -> np.ndarray:
        from index.query import film_scores

        return film_scores(self.side, [int(f) for f in films])


def index_quality(index_dir: Path, truth: Path, ratings_dir: Path, tables_id: str,
                  cfg) -> dict:
    """pair hit@k and taste AUC of the index's answers, by the run's protocol."""
    from index.folder import open_index
    from index.query import nearest
    from trainer.quality import TasteSplit, read_pairs, taste_auc
    from trainer.ratings import load_ratings

    side = open_index(index_dir, "films")
    titles = side.items.column("title").to_pylist()
    e, k = cfg["eval"], cfg["eval"]["pair_k"]
    pairs = read_pairs(truth, titles).pairs
    top = {int(f): {n.id for n in nearest(side, [int(f)], k)} for f in np.unique(pairs)}
    hits = sum(int(b in top[a]) + int(a in top[b]) for a, b in pairs.tolist())
    ratings = load_ratings(ratings_dir, tables_id)
    split = TasteSplit.build(ratings.user, ratings.film, ratings.rating, len(titles),
                             min_rating=e["taste_min_rating"], holdout=e["taste_holdout"],
                             seed=cfg["train"]["seed"], max_users=e["taste_max_users"])
    return {f"pair_hit@{k}": hits / (2 * len(pairs)),
            "taste_auc": taste_auc(IndexAnswers(side), split)}


def table(result: dict) -> str:
    rows = [("| measure | " + " | ".join(HEADS) + " |"), "|---" + "|---:" * len(HEADS) + "|"]
    for measure in ("pair_hit@10", "taste_auc"):
        cells = [result["quality"][measure].get(c) for c in COLUMNS]
        rows.append(f"| {measure} | " + " | ".join("—" if v is None else f"{v:.3f}"
                                                  for v in cells) + " |")
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in result["seconds"].items())
    return "\n".join(rows) + f"\n\nseconds: {seconds}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", type=Path, default=DUMP)
    parser.add_argument("--truth", type=Path, default=TRUTH, help="pairs (trainer --pairs)")
    parser.add_argument("--ratings", type=Path, default=RATINGS, help="a MovieLens release")
    parser.add_argument("--result", default="quality", help="bench/results/NAME.json")
    args = parser.parse_args(argv)
    missing = [str(p) for p in (args.dump, args.truth, args.ratings) if not p.exists()]
    if missing:
        print(f"bench.quality: real data not found: {', '.join(missing)} (../shared/data "
              "beside the checkout holds it); nothing measured", file=sys.stderr)
        return 2
    from conf import load_config

    cfg = load_config(None)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as work:
        w = Path(work)
        stage("parse_dump", ["spark_jobs.parse_dump", "--dump", str(args.dump), "--out",
                             str(w / "tables"), "-q"], timings)
        stage("ratings", ["spark_jobs.ratings", "--ratings", str(args.ratings), "--tables",
                          str(w / "tables"), "--out", str(w / "ratings"), "-q"], timings)
        stage("train", ["trainer", "train", "--tables", str(w / "tables"), "--out",
                        str(w / "run"), "--pairs", str(args.truth), "--ratings",
                        str(w / "ratings"), "-q"], timings)
        stage("index", ["index", "build", "--run", str(w / "run"), "--out", str(w / "index"),
                        "-q"], timings)
        run = json.loads((w / "run" / "metrics.json").read_text())["quality"]
        tables_id = json.loads((w / "tables" / "manifest.json").read_text())["id"]
        linking = json.loads((w / "ratings" / "manifest.json").read_text())["linking"]
        answers = index_quality(w / "index", args.truth, w / "ratings", tables_id, cfg)
    quality = {m: {**run[m], "answers": answers[m]} for m in ("pair_hit@10", "taste_auc")}
    result = {"inputs": {"dump": str(args.dump), "truth": str(args.truth),
                         "ratings": str(args.ratings)},
              "quality": quality, "pairs": run["pairs"], "taste": run["taste"],
              "ratings_linked": {k: linking[k] for k in ("share_of_items", "share_of_ratings")},
              "seconds": timings, "protocol": "trainer/quality.py, bench/quality.py"}
    print(table(result))
    path = write_result(args.result, result)
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
