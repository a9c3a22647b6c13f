"""Index benchmark: Annoy at the configured settings against exact numpy search.

    python -m bench.index [--run data/demo/run] [--synthetic 150000] [--queries 1000]
                          [--scale-epochs 5]

In one process, on three sets of vectors:
  demo       the trained embeddings of `make demo` (films and links; trained here from the
             bench's cached sample tables when data/demo/run is absent)
  synthetic  150,000 x 64 clustered vectors (1,000 random centres, noise 0.5 per coordinate;
             bench.synthetic_run.clustered_vectors), the size of the English Wikipedia's films
  trained full-size  films and links trained (--scale-epochs epochs, cached) on bench.train's
             synthetic 150k films x 300k links tables
For each: the build (`index.build.build_index` with conf/base.toml, so the search_k tuning
is included), index size, recall@10 against brute force on sampled items (measured again
here, not copied from the build), queries/s one query at a time for Annoy
(`get_nns_by_item`) and exact search (matrix-vector product + argpartition) on the same
items, and the same through `index.query.nearest` (what the CLI runs); "answers" is the
search the build chose (Annoy, or brute force where Annoy was not faster at recall 0.99).
Then the cold start
of `python -m index query` (process start to first answer, median of 5) next to a bare
`python -c pass`. Prints a table and writes bench/results/index.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results_file import write_result

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
K = 10


def demo_run(run: Path) -> Path:
    """The demo's run folder, or one trained on the bench's cached 2,000-film sample."""
    if (run / "manifest.json").exists():
        return run
    from bench.train import ensure_tables

    tables, _ = ensure_tables(2000)
    run = DATA / "sample-f2000" / "run"
    if not (run / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "trainer", "train", "--tables", str(tables),
                        "--out", str(run), "--overwrite", "-q", "-p", "export.map=false"],
                       cwd=ROOT, check=True)
    return run


def scale_trained_run(epochs: int) -> Path:
    """Vectors trained on the full-size synthetic tables of bench.train (150k films x 300k
    links): what the index meets at full size, as far as this machine can train it."""
    from bench.train import scale_tables

    tables = scale_tables(150_000, 300_000, 60)
    run = DATA / f"scale-run-e{epochs}"
    if not (run / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "trainer", "train", "--tables", str(tables),
                        "--out", str(run), "--overwrite", "-q", "-p", "export.map=false",
                        "-p", f"train.epochs={epochs}", "-p", "train.early_stop_patience=0"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return run


def synthetic_run(n: int, dim: int) -> Path:
    from bench.synthetic_run import clustered_vectors, write_run

    folder = DATA / f"index-synthetic-{n}x{dim}"
    if not (folder / "manifest.json").exists():
        films = clustered_vectors(n, dim, clusters=1000, spread=0.5, seed=0)
        links = clustered_vectors(1000, dim, clusters=50, spread=0.5, seed=1)
        write_run(folder, films, [f"Film {i}" for i in range(n)], links,
                  [f"Link {i}" for i in range(len(links))])
    return folder


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure_side(index_dir: Path, kind: str, manifest: dict, queries: int, seed: int) -> dict:
    from index.folder import open_index
    from index.query import nearest, search_k_for
    from index.recall import (
        annoy_neighbours,
        exact_neighbours,
        exact_top,
        recall_at,
        sample_items,
    )

    side = open_index(index_dir, kind)
    vectors = np.ascontiguousarray(side.vectors)
    items = sample_items(len(vectors), queries, seed)
    truth = exact_neighbours(vectors, vectors[items], K, exclude=items)
    search_k = search_k_for(side, K + 1)

    started = time.perf_counter()
    found = annoy_neighbours(side.ann, items, K, search_k)
    annoy_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in items.tolist():
        exact_top(vectors, vectors[i], K, (i,))
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in items.tolist():
        nearest(side, [i], K, exact=False)
    cli_annoy_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in items.tolist():
        nearest(side, [i], K, exact=True)
    cli_exact_s = time.perf_counter() - started

    info = manifest[kind]
    return {
        "items": len(vectors), "dim": int(vectors.shape[1]), "queries": len(items),
        "n_trees": manifest["n_trees"], "search_k": search_k,
        "search": info["recall"]["search"],
        "configured_recall": info["recall"]["configured_recall"],
        "recall_at_10": recall_at(truth, found),
        "annoy_qps": per_second(len(items), annoy_s),
        "exact_qps": per_second(len(items), exact_s),
        "speedup": exact_s / annoy_s,
        "nearest_annoy_qps": per_second(len(items), cli_annoy_s),
        "nearest_exact_qps": per_second(len(items), cli_exact_s),
        "build_s": info["build_seconds"],
        "ann_bytes": info["ann"]["bytes"],
    }


def cold_start(index_dir: Path, title: str, repeats: int = 5) -> dict:
    def timed(cmd: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - started

    query = [sys.executable, "-m", "index", "query", "--index", str(index_dir), title]
    timed(query)  # the first run pays for the page cache, as any second query would not
    return {"query_s": statistics.median(timed(query) for _ in range(repeats)),
            "python_s": statistics.median(timed([sys.executable, "-c", "pass"])
                                          for _ in range(repeats))}


def bench_run(name: str, run: Path, out: Path, kinds: tuple[str, ...], queries: int) -> dict:
    import pyarrow.parquet as pq

    from conf import load_config
    from index.build import build_index

    started = time.perf_counter()
    manifest = build_index(run, out, load_config(), overwrite=True)
    build_s = time.perf_counter() - started
    sides = {kind: measure_side(out, kind, manifest, queries, seed=1) for kind in kinds}
    first_title = pq.read_table(run / "embeddings" / "films.parquet",
                                columns=["title"])["title"][0].as_py()
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"name": name, "run": str(run), "build_total_s": build_s, "index_bytes": size,
            **sides, "cold_start": cold_start(out, first_title)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(ROOT / "data" / "demo" / "run"))
    parser.add_argument("--synthetic", type=int, default=150_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--scale-epochs", type=int, default=5,
                        help="epochs on the full-size synthetic tables (0 = skip that set)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=DATA if DATA.exists() else None) as tmp:
        results = [
            bench_run("demo", demo_run(Path(args.run)), Path(tmp) / "demo", ("films", "links"),
                      args.queries),
            bench_run(f"synthetic {args.synthetic:,}x{args.dim}",
                      synthetic_run(args.synthetic, args.dim), Path(tmp) / "synthetic",
                      ("films",), args.queries),
        ]
        if args.scale_epochs:
            results.append(bench_run("trained full-size", scale_trained_run(args.scale_epochs),
                                     Path(tmp) / "scale", ("films", "links"), args.queries))
    print(f"\n{'set':<28}{'items':>9}{'trees':>6}{'search_k':>9}{'recall@10':>10}"
          f"{'annoy q/s':>11}{'exact q/s':>11}{'speedup':>8}{'build s':>8}{'.ann MB':>8}"
          f"{'answers':>8}")
    for r in results:
        for kind in ("films", "links"):
            if kind not in r:
                continue
            s = r[kind]
            print(f"{r['name'] + ' ' + kind:<28}{s['items']:>9,}{s['n_trees']:>6}"
                  f"{s['search_k']:>9}{s['recall_at_10']:>10.4f}{s['annoy_qps']:>11,.0f}"
                  f"{s['exact_qps']:>11,.0f}{s['speedup']:>7.1f}x{s['build_s']:>8.1f}"
                  f"{s['ann_bytes'] / 2**20:>8.1f}{s['search']:>8}")
    for r in results:
        c = r["cold_start"]
        print(f"cold start, {r['name']}: python -m index query {c['query_s']:.2f} s "
              f"(bare python {c['python_s']:.2f} s)")
    from importlib.metadata import version

    path = write_result("index", {"sets": results, "k": K},
                        annoy=version("annoy"), numpy=np.__version__,
                        pyarrow=version("pyarrow"))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
