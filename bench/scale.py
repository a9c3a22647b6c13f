"""Real size: every stage on inputs of the English Wikipedia's and MovieLens-25M's size.

    python -m bench.scale --make                  generate the inputs (bench/scale_data.py),
                                                  under data/scale/ (kept out of git)
    python -m bench.scale [--stages a,b,...]      run the stages, each its own command as a
                                                  user types it, timed, its memory sampled

Stages, in order (each reads what the ones before wrote):
    ratings   python -m spark_jobs.ratings   ML-25M-shaped ratings -> ratings/ (Spark local)
    train     python -m trainer train        170k films x 510k links -> run/ (early stop,
                                             the map of every film)
    rank      python -m trainer rank         -> ranking/ (the model and its comparisons)
    rate      python -m trainer rate         -> rating/ (one split)
    index     python -m index build          with both models -> index/
    query     python -m index query          cold start (a new process each) and answers a
                                             second in one process: films, --user, --rated
    serve     python -m index serve          the page's answers over HTTP and the map

For each: wall seconds and the peak resident memory of the command's process tree (sampled
every 0.5 s, Spark's JVM and workers included: bench/process_tree.py), against the targets
of issue 36. Writes bench/results/scale.json (merged with the stages already measured) and
prints the table; each stage's log is in data/scale/logs/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.process_tree import measured
from bench.results_file import RESULTS, write_result

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "scale"
GIB = 2**30
# Issue 36's targets: seconds, and 12 GiB for every stage.
TARGET_S = {"rank": 30 * 60, "rate": 30 * 60, "train": 60 * 60, "index": 15 * 60}
TARGET_RSS = 12 * GIB
STAGES = ("ratings", "train", "rank", "rate", "index", "query", "serve")


def paths() -> dict[str, Path]:
    return {name: DATA / name for name in ("tables", "ml-25m-shape", "ratings", "run",
                                          "ranking", "rating", "index", "logs")}


def make() -> dict:
    from bench.scale_data import make_ratings, make_tables

    p = paths()
    for name in ("tables", "ml-25m-shape"):
        if p[name].exists():
            raise SystemExit(f"bench.scale: {p[name]} exists; remove it to make it again")
    p["tables"].mkdir(parents=True)
    p["ml-25m-shape"].mkdir(parents=True)
    started = time.perf_counter()
    tables = make_tables(p["tables"])
    ratings = make_ratings(p["ml-25m-shape"], p["tables"])
    summary = {"tables": tables, "ratings": ratings,
               "seconds": round(time.perf_counter() - started, 1)}
    (DATA / "made.json").write_text(json.dumps(summary, indent=2))
    return summary


def commands(extra: dict[str, list[str]]) -> dict[str, list[str]]:
    p, py = paths(), sys.executable
    return {
        "ratings": [py, "-m", "spark_jobs.ratings", "--ratings", str(p["ml-25m-shape"]),
                    "--tables", str(p["tables"]), "--out", str(p["ratings"]), "--overwrite"],
        "train": [py, "-m", "trainer", "train", "--tables", str(p["tables"]), "--out",
                  str(p["run"]), "--overwrite", "--ratings", str(p["ratings"])],
        "rank": [py, "-m", "trainer", "rank", "--ratings", str(p["ratings"]), "--films-run",
                 str(p["run"]), "--out", str(p["ranking"]), "--overwrite"],
        "rate": [py, "-m", "trainer", "rate", "--ratings", str(p["ratings"]), "--films-run",
                 str(p["run"]), "--out", str(p["rating"]), "--overwrite"],
        "index": [py, "-m", "index", "build", "--run", str(p["run"]), "--ranking-run",
                  str(p["ranking"]), "--rating-run", str(p["rating"]), "--out",
                  str(p["index"]), "--overwrite"],
    } | {k: v for k, v in extra.items()}


def run_stage(name: str, argv: list[str]) -> dict:
    p = paths()
    p["logs"].mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = measured(argv, cwd=ROOT, log=p["logs"] / f"{name}.log", env=env)
    result["command"] = " ".join(a.replace(str(ROOT) + "/", "") for a in argv[1:])
    manifest = {"ratings": p["ratings"], "train": p["run"], "rank": p["ranking"],
                "rate": p["rating"], "index": p["index"]}.get(name)
    if manifest is not None and (manifest / "manifest.json").exists() \
            and result["returncode"] == 0:
        result["manifest"] = _summary(name, json.loads((manifest / "manifest.json").read_text()))
    return result


def _summary(name: str, m: dict) -> dict:
    """What each stage's manifest says that the scale table reports."""
    if name == "ratings":
        return {k: m[k] for k in ("lines_skipped", "duplicates", "ratings_filtered")} | {
            "linking": {k: m["linking"][k] for k in ("items", "items_linked", "share_of_items",
                                                     "ratings", "share_of_ratings")},
            "tables": {k: v["rows"] for k, v in m["tables"].items()}}
    if name == "train":
        return {"metrics": m["metrics"], "quality": m.get("quality"), "counts": m["counts"]}
    if name == "rank":
        return {"auc": m["auc"], "epochs": m["epochs"], "counts": m["counts"]}
    if name == "rate":
        return {"summary": m["summary"]}
    if name == "index":
        return {k: {"items": m[k]["items"], "recall": m[k]["recall"]}
                for k in ("films", "links")}
    return {}


def measure_queries(index: Path, repeats: int = 5, answers: int = 200) -> dict:
    """A query's cold start (a new `python -m index query` process each time) and its
    answers in one process (the functions the CLI calls), for films, --user and --rated."""
    from index import answers as rows
    from index.folder import open_index, open_ranking
    from index.ranking import for_ratings, for_user

    films = open_index(index, "films")
    ranking = open_ranking(index)
    title = films.title(123)
    cold = {}
    for name, args in (("films", [title]), ("user", ["--user", "1001"]),
                       ("rated", ["--rated", f"{title}=5"])):
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "index", "query", "--index", str(index),
                            "--json", *args], cwd=ROOT, check=True, capture_output=True)
            runs.append(time.perf_counter() - started)
        cold[name] = statistics.median(runs)
    links = open_index(index, "links")
    picks = list(range(0, films.vectors.shape[0], films.vectors.shape[0] // answers))[:answers]
    users = sorted(ranking.user_ids.values())[::max(1, len(ranking.user_ids) // answers)]
    items = ranking.items_of_film
    liked = [i for f in picks[:50] for i in items(f)][:20]
    warm = {"films": [], "user": [], "rated": []}
    for f in picks:
        started = time.perf_counter()
        rows.liked(films, links, [f], 10)
        warm["films"].append(time.perf_counter() - started)
    for u in users[:answers]:
        started = time.perf_counter()
        for_user(ranking, u, 10)
        warm["user"].append(time.perf_counter() - started)
    for i in liked:
        started = time.perf_counter()
        for_ratings(ranking, {i: 5.0}, 10)
        warm["rated"].append(time.perf_counter() - started)
    return {"cold_start_s": cold,
            "p50_ms": {k: 1000 * statistics.median(v) for k, v in warm.items() if v},
            "answers": {k: len(v) for k, v in warm.items()}}


def measure_serve(index: Path) -> dict:
    from bench.serve import measure_api, measure_page, start_server

    process, url, start_s = start_server(index)
    try:
        films = json.loads(subprocess.run(
            [sys.executable, "-c", "import json,sys; from index.folder import open_index; "
             f"s = open_index({str(index)!r}, 'films'); print(json.dumps(s.title(4321)))"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        api = measure_api(index, url, 100, seed=1)
        page = measure_page(url, films)
    finally:
        process.terminate()
        process.wait(10)
    return {"serve_start_s": start_s, "api": api, "page": page}


def verdict(name: str, r: dict) -> str:
    notes = []
    if r.get("returncode", 0) != 0:
        return f"FAILED (exit {r['returncode']}, {r.get('log')})"
    if name in TARGET_S:
        notes.append(("met" if r["seconds"] <= TARGET_S[name] else "MISSED")
                     + f" <= {TARGET_S[name] // 60} min")
    if "peak_rss_bytes" in r:
        notes.append(("met" if r["peak_rss_bytes"] <= TARGET_RSS else "MISSED") + " <= 12 GiB")
    return ", ".join(notes)


def print_table(results: dict) -> None:
    print(f"\n{'stage':<9}{'seconds':>9}{'peak RSS':>11}  target")
    for name in STAGES:
        r = results.get(name)
        if r is None or "seconds" not in r:
            continue
        print(f"{name:<9}{r['seconds']:>9.0f}{r['peak_rss_bytes'] / GIB:>9.2f} G  "
              f"{verdict(name, r)}")
    if "query" in results:
        q = results["query"]
        print(f"query    cold start {q['cold_start_s']} s; p50 "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in q["p50_ms"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make", action="store_true", help="generate the inputs")
    parser.add_argument("--stages", default=",".join(STAGES[:5]) + ",query,serve",
                        help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("-p", dest="overrides", action="append", default=[],
                        metavar="STAGE:SECTION.KEY=VALUE",
                        help="a setting for one stage's command, e.g. rank:rank.compare=false")
    args = parser.parse_args(argv)
    if args.make:
        print(json.dumps(make(), indent=2))
        return 0
    previous = RESULTS / "scale.json"
    results = json.loads(previous.read_text())["stages"] if previous.exists() else {}
    cmds = commands({})
    for override in args.overrides:
        stage, _, setting = override.partition(":")
        cmds[stage] += ["-p", setting]
    for name in args.stages.split(","):
        print(f"bench.scale: {name} ...", flush=True)
        if name in cmds:
            results[name] = run_stage(name, cmds[name])
        elif name == "query":
            results[name] = measure_queries(paths()["index"])
        elif name == "serve":
            results[name] = measure_serve(paths()["index"])
        print(json.dumps(results[name], default=str)[:2000], flush=True)
        made = json.loads((DATA / "made.json").read_text()) if (DATA / "made.json").exists() \
            else None
        write_result("scale", {"inputs": made, "stages": results})
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
