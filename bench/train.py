"""Training benchmark: this trainer against the classic feeding of the published notebooks.

    python -m bench.train [--films 2000] [--budget-s 240]

In one process, on the same tables (a generated sample dump, parsed by the ingestion job once
and cached under data/bench/) and the same held-out split:
  classic  a Python generator drawing 512 positives with random.sample and looping for 10
           negatives each (random film, random link, known positives skipped), ±1 labels,
           a functional Keras model (two Embeddings, Dot(normalize=True)), MSE, Nadam,
           model.fit; the notebooks' recipe.
  trainer  `trainer.train.run` with the default configuration.
For each: examples/s (training time only, timed by callbacks, not fit's wall time, see
FACTS.md) and the training seconds until the held-out AUC first reaches 0.9 (evaluated after
every epoch, by the same function). Prints a table and writes bench/results/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
AUC_TARGET = 0.9


def ensure_tables(films: int) -> tuple[Path, Path]:
    """(tables folder, truth JSON) of a generated sample dump, built once and cached."""
    folder = DATA / f"sample-f{films}"
    tables = folder / "tables"
    dump = folder / "dump" / "enwiki-20261101-pages-articles-multistream.xml.bz2"
    if not (tables / "manifest.json").exists():
        py = sys.executable
        subprocess.run([py, "-m", "spark_jobs.sample_dump", "--out", str(folder / "dump"),
                        "--films", str(films), "--format", "multistream"], cwd=ROOT, check=True)
        subprocess.run([py, "-m", "spark_jobs.parse_dump", "--dump", str(dump), "--out",
                        str(tables), "-q"], cwd=ROOT, check=True)
    return tables, folder / "dump" / "enwiki-20261101-truth.json"


def classic(tables_dir: Path, cfg, budget_s: float, dim: int) -> dict:
    """The notebooks' recipe; returns examples/s, AUC per epoch and seconds to AUC 0.9."""
    import keras
    import tensorflow as tf

    from trainer.evaluate import HeldOut, evaluate_vectors
    from trainer.tables import load_tables, split_holdout

    t = load_tables(tables_dir)
    tc = cfg["train"]
    held_mask = split_holdout(t.film_links, tc["holdout_fraction"], tc["min_links_for_holdout"],
                              tc["seed"])
    train, heldout = t.film_links[~held_mask], t.film_links[held_mask]
    held = HeldOut.build(train, heldout, t.n_links, cfg["eval"]["negatives_per_positive"],
                         cfg["eval"]["max_films"], tc["seed"])
    pairs = [tuple(p) for p in train.tolist()]
    pairs_set = set(pairs)
    n_films, n_links = t.n_films, t.n_links
    positives, negative_ratio = 512, 10

    def generate_batch():
        random.seed(100)
        while True:
            batch = [(f, l, 1) for f, l in random.sample(pairs, positives)]
            while len(batch) < positives * (1 + negative_ratio):
                f, l = random.randrange(n_films), random.randrange(n_links)
                if (f, l) not in pairs_set:
                    batch.append((f, l, -1))
            random.shuffle(batch)
            array = np.array(batch)
            yield {"film": array[:, 0], "link": array[:, 1]}, array[:, 2].astype(np.float32)

    film_in = keras.Input(name="film", shape=[1])
    link_in = keras.Input(name="link", shape=[1])
    film_emb = keras.layers.Embedding(n_films, dim, name="film_embedding")(film_in)
    link_emb = keras.layers.Embedding(n_links, dim, name="link_embedding")(link_in)
    merged = keras.layers.Dot(name="dot", normalize=True, axes=2)([film_emb, link_emb])
    model = keras.Model([film_in, link_in], keras.layers.Reshape([1])(merged))
    model.compile(optimizer="nadam", loss="mse")

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

    timer = Timer()
    steps = len(pairs) // positives
    history, seconds, reached = [], 0.0, None
    while seconds < budget_s:
        model.fit(generate_batch(), epochs=1, steps_per_epoch=steps, verbose=0,
                  callbacks=[timer])
        epoch_s = timer.last - timer.start
        seconds += epoch_s
        films = model.get_layer("film_embedding").get_weights()[0]
        links = model.get_layer("link_embedding").get_weights()[0]
        films /= np.linalg.norm(films, axis=1, keepdims=True)
        links /= np.linalg.norm(links, axis=1, keepdims=True)
        metrics = evaluate_vectors(films, links, held, cfg["eval"]["recall_at"])
        history.append({**metrics, "train_seconds": seconds,
                        "examples_per_s": steps * positives * (1 + negative_ratio) / epoch_s})
        print(f"  classic epoch {len(history)}: AUC {metrics['auc']:.4f}  "
              f"{history[-1]['examples_per_s']:.0f} examples/s  {seconds:.0f} s", flush=True)
        if reached is None and metrics["auc"] >= AUC_TARGET:
            reached = seconds
            break
    del tf
    return {"history": history, "seconds_to_auc": reached,
            "examples_per_s": float(np.median([h["examples_per_s"] for h in history])),
            "best_auc": max(h["auc"] for h in history), "train_seconds": seconds,
            "recipe": "random.sample 512 positives x 10 looped negatives, Nadam, MSE, model.fit"}


def ours(tables_dir: Path, truth: Path, cfg) -> dict:
    from trainer.train import run

    with tempfile.TemporaryDirectory() as tmp:
        manifest = run(str(tables_dir), Path(tmp) / "run", cfg, truth=str(truth))
        history = json.loads((Path(tmp) / "run" / "metrics.json").read_text())["history"]
    seconds, reached = 0.0, None
    for h in history:
        seconds += h["seconds"]
        h["train_seconds"] = seconds
        if reached is None and h["auc"] >= AUC_TARGET:
            reached = seconds
    # The first epoch includes tracing and XLA compilation; the median is the steady rate.
    return {"history": history, "seconds_to_auc": reached,
            "examples_per_s": float(np.median([h["examples_per_s"] for h in history])),
            "best_auc": max(h["auc"] for h in history), "train_seconds": seconds,
            "quality": manifest["quality"], "config": manifest["config"]["train"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train")
    parser.add_argument("--films", type=int, default=2000)
    parser.add_argument("--budget-s", type=float, default=240,
                        help="training seconds the classic recipe gets to reach AUC 0.9")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from conf import load_config

    cfg = load_config(None, ["train.progress_interval_s=0", "export.map=false"])
    tables, truth = ensure_tables(args.films)
    print(f"tables: {tables}", flush=True)
    from trainer.train import configure_devices

    configure_devices(cfg)
    mine = ours(tables, truth, cfg)
    print(f"  trainer: best AUC {mine['best_auc']:.4f}, {mine['examples_per_s']:.0f} examples/s",
          flush=True)
    old = classic(tables, cfg, args.budget_s, cfg["train"]["dim"])

    def fmt(seconds):
        return f"{seconds:.1f}" if seconds is not None else f"not reached ({AUC_TARGET})"

    speedup = mine["examples_per_s"] / old["examples_per_s"]
    print(f"\n| run | examples/s | training s to held-out AUC {AUC_TARGET} | best AUC |")
    print("|---|---:|---:|---:|")
    print(f"| classic (generator + Nadam + fit) | {old['examples_per_s']:,.0f} | "
          f"{fmt(old['seconds_to_auc'])} | {old['best_auc']:.4f} |")
    print(f"| trainer (defaults) | {mine['examples_per_s']:,.0f} | {fmt(mine['seconds_to_auc'])} "
          f"| {mine['best_auc']:.4f} |")
    print(f"\nspeed-up in examples/s: {speedup:.1f}x (target 30x)")
    q = mine["quality"]
    print(f"franchise films in each other's top {q['k']}: embedding {q['embedding']:.3f}, "
          f"co-link baseline {q['colink_baseline']:.3f}")
    import keras
    import tensorflow as tf

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "tensorflow": tf.__version__,
                    "keras": keras.__version__},
        "tables": str(tables), "auc_target": AUC_TARGET,
        "classic": old, "trainer": mine,
        "ratios": {"examples_per_s": speedup},
        "targets": {"examples_per_s": 30, "faster_to_auc": True},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "train.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
