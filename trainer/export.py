"""Write the run folder: embeddings, id->title tables, model, metrics, projector, map, manifest.

    embeddings/films.npy, links.npy   float32, row = dense id, L2-normalised
    embeddings/films.parquet          film_id, title, year, director, n_links
    embeddings/links.parquet          link_id, title, film_count, film_id
    model.keras                       the Keras model (custom objects registered in trainer)
    metrics.json                      per-epoch held-out metrics, final metrics, quality report
    logs/                             TensorBoard scalars + embedding projector (metadata)
    embeddings/films_map.npy          float32 [films, 2]: t-SNE coordinates of every film (the
                                      web page's map: index serve)
    film_map.png                      the same map drawn, some films titled
    manifest.json                     written last; cites the tables manifest id

The manifest is written last: a folder without one is an unfinished run and the index
builder refuses it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conf.manifest import RUN_KIND, RUN_SCHEMA_VERSION, build_manifest, write_json

logger = logging.getLogger(__name__)

# t-SNE needs a few neighbours per point (perplexity up to a third of the points).
MIN_MAP_FILMS = 5


def _first(values) -> str | None:
    return values[0] if values else None


def write_embeddings(folder: Path, films: np.ndarray, links: np.ndarray, tables) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "films.npy", films.astype(np.float32))
    np.save(folder / "links.npy", links.astype(np.float32))
    attrs = tables.film_attributes
    n_links_per_film = np.bincount(tables.film_links[:, 0], minlength=tables.n_films)
    pq.write_table(pa.table({
        "film_id": pa.array(np.arange(tables.n_films, dtype=np.int32)),
        "title": pa.array(tables.film_titles, pa.string()),
        "year": pa.array(attrs.get("year") or [None] * tables.n_films, pa.int32()),
        "director": pa.array([_first(d) for d in attrs.get("director") or [None] * tables.n_films],
                             pa.string()),
        "n_links": pa.array(n_links_per_film.astype(np.int32)),
    }), folder / "films.parquet")
    pq.write_table(pa.table({
        "link_id": pa.array(np.arange(tables.n_links, dtype=np.int32)),
        "title": pa.array(tables.link_titles, pa.string()),
        "film_count": pa.array(tables.link_film_count.astype(np.int32)),
        "film_id": pa.array(np.where(tables.link_film_id >= 0, tables.link_film_id, None)
                            .tolist(), pa.int32()),
    }), folder / "links.parquet")


def most_linked(tables, n: int) -> np.ndarray:
    """The n films with most links (ties by id): the projector's and the map's films."""
    degree = np.bincount(tables.film_links[:, 0], minlength=tables.n_films)
    return np.sort(np.argsort(-degree, kind="stable")[:n])


def write_projector(logdir: Path, films: np.ndarray, tables, max_points: int) -> int:
    """TensorBoard's embedding projector over the most-linked films; returns the point count.

    Vectors as a TSV tensor (no checkpoint needed), titles, years and directors as metadata.
    """
    from tensorboard.plugins import projector

    logdir.mkdir(parents=True, exist_ok=True)
    chosen = most_linked(tables, max_points)
    np.savetxt(logdir / "films_vectors.tsv", films[chosen], delimiter="\t", fmt="%.5f")
    years = tables.film_attributes.get("year") or [None] * tables.n_films
    directors = tables.film_attributes.get("director") or [None] * tables.n_films
    with open(logdir / "films_metadata.tsv", "w", encoding="utf-8") as out:
        out.write("title\tyear\tdirector\n")
        for i in chosen:
            out.write(f"{tables.film_titles[i]}\t{years[i] or ''}\t{_first(directors[i]) or ''}\n")
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "films"
    embedding.tensor_path = "films_vectors.tsv"
    embedding.metadata_path = "films_metadata.tsv"
    projector.visualize_embeddings(str(logdir), config)
    return len(chosen)


def map_coordinates(films: np.ndarray, seed: int, threads: int = -1) -> np.ndarray:
    """2-D t-SNE coordinates [films, 2] of every film's vector (openTSNE: approximate
    neighbours and FFT-interpolated gradients, so the full dump's films take minutes where
    exact t-SNE takes hours). Euclidean on the L2-normalised vectors orders neighbours as
    the cosine does, and a film without links (a zero vector) stays a valid point."""
    from openTSNE import TSNE

    points = np.asarray(films, dtype=np.float32)
    tsne = TSNE(n_components=2, metric="euclidean", perplexity=min(30.0, (len(points) - 1) / 3),
                random_state=seed, n_jobs=threads, verbose=False)
    return np.asarray(tsne.fit(points), dtype=np.float32)


def write_map(folder: Path, films: np.ndarray, tables, labels: int, seed: int) -> dict | None:
    """embeddings/films_map.npy and film_map.png (module docstring); the manifest's entry,
    None when there are too few films for a map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(films) < MIN_MAP_FILMS:
        logger.warning("film map skipped: only %d films", len(films))
        return None
    started = time.perf_counter()
    xy = map_coordinates(films, seed)
    seconds = time.perf_counter() - started
    np.save(folder / "embeddings" / "films_map.npy", xy)
    fig, ax = plt.subplots(figsize=(12, 12), dpi=100)
    ax.scatter(xy[:, 0], xy[:, 1], s=max(0.2, min(4.0, 8000 / len(xy))), alpha=0.5,
               linewidths=0)
    for j in most_linked(tables, labels):
        ax.annotate(tables.film_titles[j], xy[j], fontsize=7)
    ax.set_title(f"wikifilms: t-SNE of {len(xy)} films, the {labels} most-linked titled")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(folder / "film_map.png")
    plt.close(fig)
    logger.info("film map: t-SNE of %d films in %.1f s", len(xy), seconds)
    return {"coordinates": "embeddings/films_map.npy", "image": "film_map.png",
            "method": "t-SNE (openTSNE), euclidean on the normalised film vectors",
            "films": int(len(xy)), "seconds": round(seconds, 3)}


def final_metrics(history: list[dict]) -> dict:
    """The metrics of the best epoch by held-out AUC (early stopping keeps training past it;
    the exported vectors are the last epoch's, whose metrics are reported as `last`)."""
    return {"best": max(history, key=lambda h: h["auc"]) if history else None,
            "last": history[-1] if history else None}


def log_quality(report: dict) -> None:
    """One line per measure: the vectors beside the baselines."""
    for measure in (m for m in report if m.startswith(("pair_hit@", "taste_auc"))):
        logger.info("%s: %s", measure, ", ".join(f"{name} {value:.3f}"
                                                 for name, value in report[measure].items()))


def write_quality_scalars(run_dir: Path, report: dict, step: int) -> None:
    """The quality measures as TensorBoard scalars (logs/quality), one tag per similarity."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(run_dir / "logs" / "quality"))
    with writer.as_default(step=step):
        for measure, values in report.items():
            if measure.startswith(("pair_hit@", "taste_auc")):
                for name, value in values.items():
                    tf.summary.scalar(f"{measure}/{name}", value)
    writer.flush()


def export_run(trainer, history: list[dict], cfg, *, pairs: str | None = None, ratings=None,
               seconds: float) -> dict:
    """Everything in the module docstring, manifest last; returns the manifest. With `pairs`
    (a pairs file) or `ratings` (trainer.ratings.Ratings), the quality report too."""
    from trainer.evaluate import auc_by_link_films, evaluate_vectors
    from trainer.quality import quality_report

    run_dir = trainer.run_dir
    tables = trainer.data.tables
    films, links = trainer.vectors(all_links=True)
    write_embeddings(run_dir / "embeddings", films, links, tables)
    trainer.model.save(run_dir / "model.keras")
    summary = final_metrics(history)
    held_films, _ = trainer.vectors()  # without the held-out links they are scored on
    metrics = {"history": history, **summary,
               # The exported vectors (films made of their links); `history`, `best` and
               # `last` are the model's own (each film its learned vector).
               "exported": evaluate_vectors(held_films, links, trainer.held,
                                            cfg["eval"]["recall_at"]),
               "auc_by_link_films": auc_by_link_films(held_films, links, trainer.held,
                                                      tables.link_film_count),
               "definitions": "see trainer/evaluate.py and trainer/quality.py"}
    if pairs or ratings is not None:
        metrics["quality"] = quality_report(films, tables.film_links, tables.film_titles,
                                            tables.n_links, cfg, pairs=pairs, ratings=ratings)
        log_quality(metrics["quality"])
        write_quality_scalars(run_dir, metrics["quality"], len(history))
    write_json(run_dir / "metrics.json", metrics)
    e = cfg["export"]
    projector_points = write_projector(run_dir / "logs", films, tables, e["projector_max_points"])
    film_map = (write_map(run_dir, films, tables, e["map_labels"], cfg["train"]["seed"])
                if e["map"] else None)
    manifest = build_manifest(
        RUN_KIND, RUN_SCHEMA_VERSION, cfg,
        tables={"folder": str(Path(tables.folder).resolve()), "id": tables.manifest["id"]},
        dim=int(films.shape[1]),
        counts={"films": int(films.shape[0]), "links": int(links.shape[0]),
                "train_pairs": len(trainer.data.train),
                "heldout_pairs": len(trainer.data.heldout)},
        embeddings={"films": "embeddings/films.npy", "links": "embeddings/links.npy",
                    "film_titles": "embeddings/films.parquet",
                    "link_titles": "embeddings/links.parquet", "normalized": True,
                    **({"film_map": film_map["coordinates"]} if film_map else {})},
        film_vectors="the normalised count-weighted sum of their links' learned vectors",
        metrics={"epochs": len(history), **(summary["last"] or {}),
                 "exported": metrics["exported"]},
        quality=metrics.get("quality"),
        projector_points=projector_points,
        film_map=film_map,
        seconds=seconds,
    )
    incomplete = incomplete_tables_note(tables.manifest)
    if incomplete:
        manifest["tables"]["incomplete"] = incomplete
    write_json(run_dir / "manifest.json", manifest)
    logger.info("run written to %s (manifest %s)", run_dir, manifest["id"][:8])
    if incomplete:
        logger.warning("%s", incomplete)
    return manifest


def incomplete_tables_note(tables_manifest: dict) -> str | None:
    """What to say of tables that ingestion wrote from damaged inputs (ingest.keep_readable:
    the pages after the damage are missing), or None for complete tables."""
    damaged = tables_manifest.get("damaged_inputs") or []
    if not (tables_manifest.get("keep_readable") and damaged):
        return None
    return (f"the tables are incomplete: written with ingest.keep_readable=true from damaged "
            f"inputs ({', '.join(damaged)}), whose pages after the damage are missing")
