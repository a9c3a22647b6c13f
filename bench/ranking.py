"""Personalised ranking on real ratings: MovieLens-100K linked to the films-cast films.

    python -m bench.ranking [--work DIR] [--variants]

Builds what `trainer rank` reads as a user builds it (parse_dump, spark_jobs.ratings,
trainer train: their `python -m` commands, default settings) into --work (a temporary folder
unless given; folders already finished there are reused), then runs

- `python -m trainer rank` with the default settings: the model beside the comparison models
  (ids only, ids + genres) and the baselines (popularity, item-kNN, content-kNN), per-user
  AUC on the test ratings and on the cold items (trainer/recommend/metrics.py states the
  protocol); the whole command timed;
- the same with `-p rank.compare=false`: the configured model alone, timed (what one model
  costs), with its positives/s;
- with --variants, one run a variant (bench/results/ranking-variants.json): what each choice
  of docs/recommend.md was measured by.

Prints tables and writes bench/results/ranking.json. Says so and stops when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.quality import DUMP, RATINGS, ROOT
from bench.results_file import write_result

VARIANTS = {
    "default": [],
    "without Wikipedia (ids + genres)": ["rank.features=[\"ids\",\"genres\"]"],
    "Wikipedia links only": ["rank.features=[\"ids\",\"genres\",\"links\"]"],
    "film vector only": ["rank.features=[\"ids\",\"genres\",\"film_vector\"]"],
    "users with their rating history": ["rank.user_features=[\"ids\",\"history\"]"],
    "liked ratings only": ["rank.disliked_weight=0.0"],
    "every rating alike": ["rank.disliked_weight=1.0"],
    "sampled softmax loss": ["rank.loss=\"softmax\""],
    "l2 1e-4": ["rank.l2=0.0001"],
}


def command(argv: list[str]) -> float:
    """Run `python -m ARGV` from the checkout; its wall seconds (SystemExit when it fails)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"bench.ranking: {' '.join(argv[:3])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def finished(folder: Path) -> bool:
    return (folder / "manifest.json").exists()


def inputs(work: Path) -> dict[str, float]:
    """tables, ratings and a films run in `work`; the seconds of those built now."""
    seconds = {}
    steps = (("tables", ["spark_jobs.parse_dump", "--dump", str(DUMP), "--out",
                         str(work / "tables"), "-q"]),
             ("ratings", ["spark_jobs.ratings", "--ratings", str(RATINGS), "--tables",
                          str(work / "tables"), "--out", str(work / "ratings"), "-q"]),
             ("run", ["trainer", "train", "--tables", str(work / "tables"), "--out",
                      str(work / "run"), "-q"]))
    for name, argv in steps:
        if not finished(work / name):
            seconds[name] = command([*argv, "--overwrite"] if (work / name).exists() else argv)
    return seconds


def rank(work: Path, out: str, overrides: list[str]) -> tuple[dict, float]:
    """(metrics.json, wall seconds) of one `trainer rank` run."""
    argv = ["trainer", "rank", "--ratings", str(work / "ratings"), "--films-run",
            str(work / "run"), "--out", str(work / out), "--overwrite", "-q"]
    for o in overrides:
        argv += ["-p", o]
    seconds = command(argv)
    return json.loads((work / out / "metrics.json").read_text()), seconds


def table(auc: dict) -> str:
    from bench.report import scorer_order

    names = scorer_order(auc["test"])
    lines = ["| per-user AUC | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for task in ("test", "cold"):
        lines.append(f"| {task} | " + " | ".join(f"{auc[task][n]:.3f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ranking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="keep the inputs and runs here (reused)")
    parser.add_argument("--variants", action="store_true", help="also the variants table")
    args = parser.parse_args(argv)
    missing = [str(p) for p in (DUMP, RATINGS) if not p.exists()]
    if missing:
        print(f"bench.ranking: real data not found: {', '.join(missing)} (../shared/data "
              "beside the checkout holds it); nothing measured", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        built = inputs(work)
        metrics, seconds = rank(work, "ranking", [])
        alone, alone_seconds = rank(work, "ranking-alone", ["rank.compare=false"])
        history = alone["history"]
        result = {"inputs": {"dump": str(DUMP), "ratings": str(RATINGS)},
                  "model": metrics["model"], "auc": metrics["auc"], "counts": metrics["counts"],
                  "seconds": {"rank_command": seconds, "rank_command_one_model": alone_seconds,
                              **{f"build_{k}": v for k, v in built.items()}},
                  "one_model": {"epochs": len(history),
                                "positives_per_s": sum(h["positives_per_s"] for h in history)
                                / len(history),
                                "auc": {t: alone["auc"][t][alone["model"]]
                                        for t in ("test", "cold")}},
                  "protocol": metrics["protocol"]}
        print(table(metrics["auc"]))
        print(f"\n`trainer rank`: {seconds:.1f} s with the comparison models, "
              f"{alone_seconds:.1f} s for one ({len(history)} epochs, "
              f"{result['one_model']['positives_per_s']:,.0f} positives/s)")
        print(f"written to {write_result('ranking', result).relative_to(ROOT)}")
        if args.variants:
            rows = {}
            for name, overrides in VARIANTS.items():
                m, s = rank(work, "variant", ["rank.compare=false", *overrides])
                rows[name] = {"overrides": overrides, "epochs": len(m["history"]),
                              "seconds": s, **{t: m["auc"][t][m["model"]]
                                               for t in ("test", "cold")}}
                print(f"{name:40s} test {rows[name]['test']:.4f}  cold {rows[name]['cold']:.4f}"
                      f"  ({rows[name]['epochs']} epochs, {s:.0f} s)", flush=True)
            path = write_result("ranking-variants", {"variants": rows,
                                                     "protocol": metrics["protocol"]})
            print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
