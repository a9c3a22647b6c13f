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
docs/stack.md) and the training seconds until the held-out AUC first reaches 0.9 (evaluated after
every epoch, by the same function). Prints a table and writes bench/results/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results_file import write_result

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
        subprocess.run([py, "-m", "sample_dump", "--out", str(folder / "dump"),
                        "--films", str(films), "--format", "multistream"], cwd=ROOT, check=True)
        subprocess.run([py, "-m", "spark_jobs.parse_dump", "--dump", str(dump), "--out",
                        str(tables), "-q"], cwd=ROOT, check=True)
    return tables, folder / "dump" / "enwiki-20261101-truth.json"


def scale_tables(n_films: int, n_links: int, links_per_film: int) -> Path:
    """Tables of full-dump size (DESIGN.md: ~150k films, 10^5-5*10^5 kept links, ~10^7
    pairs), synthetic, for throughput only: the cost of an update grows with the tables,
    which the 2,000-film sample is far too small to show."""
    folder = DATA / f"scale-f{n_films}-l{n_links}-k{links_per_film}"
    if (folder / "manifest.json").exists():
        return folder
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    film = np.repeat(np.arange(n_films, dtype=np.int32), links_per_film)
    # Heavy-tailed link popularity, as on Wikipedia.
    link = np.minimum(rng.zipf(1.3, len(film)) - 1, n_links - 1).astype(np.int32)
    link = (link + film // 100 * 7919) % n_links  # plus per-cluster structure
    pairs = np.unique(np.stack([film, link], 1), axis=0)
    tables = {
        "films": pa.table({"film_id": pa.array(np.arange(n_films, dtype=np.int32)),
                           "title": [f"Film {i}" for i in range(n_films)],
                           "n_links": pa.array(np.bincount(pairs[:, 0], minlength=n_films)
                                               .astype(np.int32))}),
        "links": pa.table({"link_id": pa.array(np.arange(n_links, dtype=np.int32)),
                           "title": [f"Link {i}" for i in range(n_links)],
                           "film_count": pa.array(np.bincount(pairs[:, 1], minlength=n_links)
                                                  .astype(np.int32)),
                           "film_id": pa.array([None] * n_links, pa.int32())}),
        "film_links": pa.table({"film_id": pa.array(pairs[:, 0]), "link_id": pa.array(pairs[:, 1]),
                                "count": pa.array(np.ones(len(pairs), np.int32))}),
    }
    for name, table in tables.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name / "part-0.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.tables", "schema_version": 1, "id": folder.name,
        "tables": {n: {"path": n, "rows": t.num_rows} for n, t in tables.items()}}))
    return folder


def throughput(tables_dir: Path, cfg, seconds: float) -> dict:
    """examples/s of both feedings on the same (large) tables, steady state, no evaluation."""
    import keras

    from trainer.tables import load_tables
    from trainer.train import Trainer, prepare_data

    t = load_tables(tables_dir)
    n_films, n_links = t.n_films, t.n_links
    pairs = [tuple(p) for p in t.film_links.tolist()]
    pairs_set = set(pairs)
    dim = cfg["train"]["dim"]
    model = _classic_model(n_films, n_links, dim)
    generator = _classic_batches(pairs, pairs_set, n_films, n_links)
    timer = _timer()
    model.fit(generator, epochs=1, steps_per_epoch=5, verbose=0)  # build, trace
    steps = 20
    while True:
        model.fit(generator, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        if timer.last - timer.start >= seconds / 4 or steps >= 5000:
            break
        steps *= 4
    classic_rate = steps * 512 * 11 / (timer.last - timer.start)
    del model, pairs, pairs_set
    keras.backend.clear_session()

    with tempfile.TemporaryDirectory() as tmp:
        import tensorflow as tf

        trainer = Trainer(prepare_data(t, cfg), cfg, Path(tmp), tf.distribute.get_strategy())
        batches = iter(trainer.epoch_dataset(0, 0))
        for _ in range(5):
            trainer.train_step(next(batches))["loss"].numpy()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds and done < trainer.steps_per_epoch - 6:
            loss = trainer.train_step(next(batches))["loss"]
            done += 1
        loss.numpy()
        ours_rate = done * trainer.examples_per_step / (time.perf_counter() - start)
    return {"films": n_films, "links": n_links, "pairs": len(t.film_links),
            "classic_examples_per_s": classic_rate, "trainer_examples_per_s": ours_rate,
            "ratio": ours_rate / classic_rate}


def _classic_model(n_films: int, n_links: int, dim: int):
    import keras

    film_in = keras.Input(name="film", shape=[1])
    link_in = keras.Input(name="link", shape=[1])
    film_emb = keras.layers.Embedding(n_films, dim, name="film_embedding")(film_in)
    link_emb = keras.layers.Embedding(n_links, dim, name="link_embedding")(link_in)
    merged = keras.layers.Dot(name="dot", normalize=True, axes=2)([film_emb, link_emb])
    model = keras.Model([film_in, link_in], keras.layers.Reshape([1])(merged))
    model.compile(optimizer="nadam", loss="mse")
    return model


def _classic_batches(pairs, pairs_set, n_films, n_links, positives=512, negative_ratio=10):
    """The notebooks' generator: random.sample positives, a Python loop for negatives."""
    random.seed(100)
    while True:
        batch = [(f, link, 1) for f, link in random.sample(pairs, positives)]
        while len(batch) < positives * (1 + negative_ratio):
            f, link = random.randrange(n_films), random.randrange(n_links)
            if (f, link) not in pairs_set:
                batch.append((f, link, -1))
        random.shuffle(batch)
        array = np.array(batch)
        yield {"film": array[:, 0], "link": array[:, 1]}, array[:, 2].astype(np.float32)


def _timer():
    import keras

    class Timer(keras.callbacks.Callback):
        """Training time from the first batch's start to the last batch's end: not fit's wall
        time, which sometimes runs on for tens of seconds after the last batch (docs/stack.md)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

    return Timer()


def classic(tables_dir: Path, cfg, budget_s: float, dim: int) -> dict:
    """The notebooks' recipe; returns examples/s, AUC per epoch and seconds to AUC 0.9."""
    from trainer.evaluate import evaluate_vectors, held_out_for
    from trainer.tables import heldout_mask, load_tables

    t = load_tables(tables_dir)
    held_mask = heldout_mask(t, cfg)
    train, heldout = t.film_links[~held_mask], t.film_links[held_mask]
    held = held_out_for(train, heldout, t.n_links, cfg)
    pairs = [tuple(p) for p in train.tolist()]
    positives, negative_ratio = 512, 10
    model = _classic_model(t.n_films, t.n_links, dim)
    generator = _classic_batches(pairs, set(pairs), t.n_films, t.n_links)
    timer = _timer()
    steps = len(pairs) // positives
    history, seconds, reached = [], 0.0, None
    while seconds < budget_s:
        model.fit(generator, epochs=1, steps_per_epoch=steps, verbose=0,
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
    return {"history": history, "seconds_to_auc": reached,
            "examples_per_s": float(np.median([h["examples_per_s"] for h in history])),
            "best_auc": max(h["auc"] for h in history), "train_seconds": seconds,
            "recipe": "random.sample 512 positives x 10 looped negatives, Nadam, MSE, model.fit"}


def ours(tables_dir: Path, truth: Path, cfg) -> dict:
    from trainer.train import run

    with tempfile.TemporaryDirectory() as tmp:
        manifest = run(str(tables_dir), Path(tmp) / "run", cfg, pairs=str(truth))
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
    parser.add_argument("--budget-s", type=float, default=120,
                        help="training seconds the classic recipe gets to reach AUC 0.9")
    parser.add_argument("--scale-films", type=int, default=150_000)
    parser.add_argument("--scale-links", type=int, default=300_000)
    parser.add_argument("--scale-seconds", type=float, default=60)
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
    big = scale_tables(args.scale_films, args.scale_links, 60)
    print(f"throughput on {big}", flush=True)
    scale = throughput(big, cfg, args.scale_seconds)

    def fmt(seconds):
        return f"{seconds:.1f}" if seconds is not None else f"not reached ({AUC_TARGET})"

    speedup = mine["examples_per_s"] / old["examples_per_s"]
    print(f"\n| run | examples/s | training s to held-out AUC {AUC_TARGET} | best AUC |")
    print("|---|---:|---:|---:|")
    print(f"| classic (generator + Nadam + fit) | {old['examples_per_s']:,.0f} | "
          f"{fmt(old['seconds_to_auc'])} | {old['best_auc']:.4f} |")
    print(f"| trainer (defaults) | {mine['examples_per_s']:,.0f} | {fmt(mine['seconds_to_auc'])} "
          f"| {mine['best_auc']:.4f} |")
    print(f"\nspeed-up in examples/s on the sample: {speedup:.1f}x")
    print(f"\nthroughput on {scale['films']:,} films x {scale['links']:,} links, "
          f"{scale['pairs']:,} pairs: classic {scale['classic_examples_per_s']:,.0f} examples/s, "
          f"trainer {scale['trainer_examples_per_s']:,.0f} examples/s: {scale['ratio']:.1f}x "
          "(target 30x)")
    pair_hits = mine["quality"][f"pair_hit@{cfg['eval']['pair_k']}"]
    print("franchise pair hit@10: " + ", ".join(f"{name} {value:.3f}"
                                                for name, value in pair_hits.items()))
    import keras
    import tensorflow as tf

    write_result("train", {
        "tables": str(tables), "auc_target": AUC_TARGET,
        "classic": old, "trainer": mine, "scale": scale,
        "ratios": {"examples_per_s_sample": speedup, "examples_per_s_scale": scale["ratio"]},
        "targets": {"examples_per_s": 30, "faster_to_auc": True},
    }, tensorflow=tf.__version__, keras=keras.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
