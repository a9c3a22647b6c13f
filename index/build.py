"""`build_index(run_dir, out_dir, cfg)`: Annoy forests, lookups and a manifest from a run folder.

Reads the run's manifest and embeddings (trainer.export), the redirects of the tables it
was trained on, and writes the index folder (index.folder) aside, then moves it into place
with the manifest last: an interrupted build never leaves a folder that `query` accepts.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from conf.manifest import (
    INDEX_KIND,
    INDEX_SCHEMA_VERSION,
    MANIFEST,
    RUN_KIND,
    RUN_SCHEMA_VERSION,
    TABLES_KIND,
    TABLES_SCHEMA_VERSION,
    ManifestError,
    build_manifest,
    read_manifest,
    write_json,
)
from conf.outputs import OutputFolderError, check_output_folder, writer_ended, writer_record
from index import colink, ranking, rating, verified
from index.folder import (
    KINDS,
    MAP_FILE,
    IndexFolderError,
    file_entry,
    file_names,
    write_arrow,
)
from index.lookup import alias_table
from index.recall import tune_search_k

logger = logging.getLogger(__name__)

METRIC = "angular"
RECALL_K = 10


def _read_run(run_dir: Path) -> dict:
    return read_manifest(run_dir, RUN_KIND, RUN_SCHEMA_VERSION, "run",
                         "train one with `python -m trainer train --tables DIR --out RUN_DIR`",
                         IndexFolderError)


def load_vectors(path: Path, rows: int, dim: int) -> np.ndarray:
    """The run's float32 vectors, checked against its manifest, L2-normalised again."""
    vectors = load_array(path, rows, dim)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def load_array(path: Path, rows: int, dim: int) -> np.ndarray:
    """A float32 array of the run folder, checked against its manifest's shape, all finite."""
    try:
        vectors = np.load(path)
    except (OSError, ValueError) as e:
        raise IndexFolderError(f"{path}: not a readable .npy file ({e}); re-export the run") from e
    if vectors.ndim != 2 or vectors.shape != (rows, dim):
        raise IndexFolderError(f"{path}: shape {vectors.shape}, the run manifest says "
                               f"({rows}, {dim}); the run folder is inconsistent, re-train it")
    bad = int((~np.isfinite(vectors).all(axis=1)).sum())
    if bad:
        raise IndexFolderError(f"{path}: {bad} rows hold NaN or infinity; the run diverged, "
                               "re-train it (lower train.learning_rate)")
    return vectors.astype(np.float32)


def tables_manifest(tables_dir: Path, tables_id: str) -> dict | None:
    """The manifest of the tables the run was trained on (None, with a warning, if they are
    gone: the index then lacks redirects and the films' sparse link vectors)."""
    try:
        manifest = read_manifest(tables_dir, TABLES_KIND, TABLES_SCHEMA_VERSION, "tables",
                                 "pass --tables with the folder the run was trained on")
    except ManifestError as e:
        logger.warning("no redirects in the title lookup, films ranked by their vectors "
                       "alone: %s", e)
        return None
    if manifest["id"] != tables_id:
        raise IndexFolderError(f"{tables_dir} holds tables {manifest['id'][:8]}, but the run "
                               f"was trained on tables {tables_id[:8]}; pass --tables with "
                               "the folder it was trained on")
    return manifest


def load_film_links(tables_dir: Path, manifest: dict | None) -> pa.Table | None:
    """film_id, link_id, count of the tables (None when they are gone or lack the table)."""
    if manifest is None or "film_links" not in manifest.get("tables", {}):
        return None
    path = tables_dir / manifest["tables"]["film_links"]["path"]
    try:
        return pq.read_table(path, columns=["film_id", "link_id", "count"])
    except (OSError, ValueError) as e:
        raise IndexFolderError(f"{path}: unreadable ({e}); re-run the ingestion or pass "
                               "--tables with a good copy") from e


def load_redirects(tables_dir: Path, manifest: dict | None) -> dict[str, str]:
    """source -> final target from the tables the run was trained on ({} if they are gone)."""
    if manifest is None:
        return {}
    if not (tables_dir / "redirects").exists():
        logger.warning("no redirects table in %s: the title lookup has titles only", tables_dir)
        return {}
    try:
        redirects = pq.read_table(tables_dir / "redirects", columns=["source", "target"])
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise IndexFolderError(f"{tables_dir / 'redirects'}: unreadable ({e}); re-run the "
                               "ingestion or pass --tables with a good copy") from e
    redirects = redirects.filter(pc.and_(pc.is_valid(redirects["source"]),
                                         pc.is_valid(redirects["target"])))
    return dict(zip(redirects["source"].to_pylist(), redirects["target"].to_pylist(), strict=True))


def build_forest(vectors: np.ndarray, path: Path, cfg_index: dict):
    """An Annoy angular forest over `vectors` saved at `path`; returns it loaded (mmap)."""
    from annoy import AnnoyIndex

    forest = AnnoyIndex(vectors.shape[1], METRIC)
    forest.set_seed(cfg_index["seed"])
    if cfg_index["on_disk_build"]:
        forest.on_disk_build(str(path))
    for i, vector in enumerate(vectors):
        forest.add_item(i, vector)
    forest.build(cfg_index["n_trees"], n_jobs=cfg_index["build_jobs"])
    if not cfg_index["on_disk_build"]:
        forest.save(str(path))
    forest.unload()
    forest.load(str(path))
    return forest


def _build_side(kind: str, vectors: np.ndarray, items: pa.Table, redirects: dict[str, str],
                staging: Path, index_id: str, cfg_index: dict,
                states: dict[str, list[int]]) -> dict:
    """One side's files in `staging` and its manifest entry; each file's state goes into
    `states` (by file name), for the verified-files cache once the folder is published."""
    names = file_names(kind)
    started = time.perf_counter()
    forest = build_forest(vectors, staging / names["ann"], cfg_index)
    build_seconds = time.perf_counter() - started
    recall = tune_search_k(forest, vectors, cfg_index["n_trees"], cfg_index["search_k"],
                           k=RECALL_K, target=cfg_index["target_recall"],
                           queries=cfg_index["recall_queries"], seed=cfg_index["seed"],
                           tune=cfg_index["tune_search_k"],
                           prefer_exact=cfg_index["prefer_exact_when_faster"])
    forest.unload()
    np.save(staging / names["vectors"], vectors)
    write_arrow(staging / names["items_table"], items, index_id)
    aliases = alias_table(items.column("title").to_pylist(), redirects)
    write_arrow(staging / names["aliases"], aliases, index_id)
    via = pc.value_counts(aliases["via"].combine_chunks().dictionary_decode()).to_pylist()
    entries = {}
    for role, name in names.items():
        entries[role], states[name] = file_entry(staging / name)
    logger.info("%s: %d items, %d trees in %.1f s; recall@%d %.4f at search_k %d; queries "
                "answered by %s", kind, len(vectors), cfg_index["n_trees"], build_seconds,
                RECALL_K, recall["recall"], recall["search_k"],
                "Annoy" if recall["search"] == "annoy" else "brute force")
    return {
        "items": int(len(vectors)),
        **entries,
        "lookup": {v["values"]: v["counts"] for v in via},
        "recall": recall,
        "build_seconds": round(build_seconds, 3),
    }


def _build_colink(film_links: pa.Table | None, counts: dict, staging: Path, cfg_index: dict,
                  states: dict[str, list[int]]) -> dict | None:
    """The films' sparse link vectors (index.colink) in `staging`, and their manifest entry."""
    if film_links is None or not cfg_index["vector_weight"] < 1.0:
        return None
    film, link = film_links["film_id"].to_numpy(), film_links["link_id"].to_numpy()
    if len(film) and (film.max() >= counts["films"] or link.max() >= counts["links"]):
        raise IndexFolderError("the tables' film_links name films or links the run lacks; "
                               "pass --tables with the folder the run was trained on")
    arrays = colink.build_arrays(film, link, film_links["count"].fill_null(1).to_numpy(),
                                 counts["films"], counts["links"])
    files = {}
    for role, name in zip(colink.FILES, colink.write(staging, arrays), strict=True):
        files[role], states[name] = file_entry(staging / name)
    return {"files": files, "weighting": "log(1 + count) x idf, rows L2-normalised",
            "vector_weight": cfg_index["vector_weight"], "candidates": cfg_index["candidates"]}


def _copy_map(run_dir: Path, run: dict, n_films: int, staging: Path,
              states: dict[str, list[int]]) -> dict | None:
    """The run's 2-D film map (trainer.export.write_map) as MAP_FILE in `staging`, and its
    manifest entry; None for a run written without one."""
    path = run["embeddings"].get("film_map")
    if not path:
        return None
    xy = load_array(run_dir / path, n_films, 2)
    np.save(staging / MAP_FILE, xy)
    entry, states[MAP_FILE] = file_entry(staging / MAP_FILE)
    return {**entry, "method": (run.get("film_map") or {}).get("method")}


def _check_out(out: Path, inputs: list[Path], overwrite: bool) -> bool:
    """IndexFolderError unless `out` may be written (conf/outputs.py: an index folder is
    replaced only with `overwrite`, anything else never); whether something is there."""
    try:
        return check_output_folder(out, INDEX_KIND, "index folder", inputs=inputs,
                                   overwrite=overwrite).exists
    except OutputFolderError as e:
        raise IndexFolderError(str(e)) from e


# Beside `out` while a build runs: `.NAME.building-ID` (the new index), `.NAME.old-ID` (the
# one it replaces, for a moment) and `.NAME.building-ID.owner` (host and process). A build
# killed (kill -9, a power cut) leaves them; the next build removes those whose process is
# gone. A full-dump index is gigabytes.
BUILDING, OLD, OWNER = ".building-", ".old-", ".owner"


def _leftovers(out: Path) -> dict[str, list[Path]]:
    """{build id: the staging and set-aside folders and owner file beside `out`}."""
    found: dict[str, list[Path]] = {}
    if not out.parent.is_dir():
        return found
    for path in out.parent.iterdir():
        for prefix in (f".{out.name}{BUILDING}", f".{out.name}{OLD}"):
            if path.name.startswith(prefix):
                build = path.name[len(prefix):].removesuffix(OWNER)
                found.setdefault(build, []).append(path)
    return found


def remove_dead_builds(out: Path) -> None:
    """Remove what builds of `out` that died left beside it (their owner's process is no
    longer running on this host), saying so; leave a running build's, and say why a leftover
    without an owner record (an older version's) is left for its owner to remove."""
    for build, paths in sorted(_leftovers(out).items()):
        owner_file = out.parent / f".{out.name}{BUILDING}{build}{OWNER}"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = None
        if owner is None:
            logger.warning("left alone: %s (no owner record: remove it if no index build "
                           "is running)", ", ".join(str(p) for p in sorted(paths)))
            continue
        if not writer_ended(owner):
            continue  # a build still running (or on another host): not ours to touch
        for path in sorted(paths):
            logger.warning("removing %s, left by index build process %s on %s, which ended "
                           "before it finished", path, owner.get("pid"), owner.get("host"))
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _publish(staging: Path, out: Path, inputs: list[Path], overwrite: bool,
             build: str) -> None:
    """Move the finished staging folder to `out` (checked again: the build took a while)."""
    old = None
    if _check_out(out, inputs, overwrite):
        old = out.with_name(f".{out.name}{OLD}{build}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class RunInputs:
    """What an index is built from: the run (its manifest, vectors and id tables) and what
    the tables it was trained on add (redirects for the lookup, film_links for re-ranking)."""

    run_dir: Path
    run: dict
    vectors: dict[str, np.ndarray]  # films, links: L2-normalised
    items: dict[str, pa.Table]  # films, links: id -> title and facts
    tables: Path
    redirects: dict[str, str]
    film_links: pa.Table | None


def read_run_inputs(run_dir: Path, tables_dir: str | None) -> RunInputs:
    """The run and its tables, every file checked against the run's manifest."""
    run = _read_run(run_dir)
    dim, counts = int(run["dim"]), run["counts"]
    if counts["films"] == 0:
        raise IndexFolderError(f"{run_dir}: the run holds no films; nothing to index")
    emb = run["embeddings"]
    vectors = {"films": load_vectors(run_dir / emb["films"], counts["films"], dim),
               "links": load_vectors(run_dir / emb["links"], counts["links"], dim)}
    title_files = {"films": emb["film_titles"], "links": emb["link_titles"]}
    items = {kind: pq.read_table(run_dir / path) for kind, path in title_files.items()}
    for kind in KINDS:
        if items[kind].num_rows != len(vectors[kind]):
            raise IndexFolderError(f"{run_dir / title_files[kind]}: "
                                   f"{items[kind].num_rows} titles for {len(vectors[kind])} "
                                   "vectors; the run folder is inconsistent, re-train it")
    tables = Path(tables_dir) if tables_dir else Path(run["tables"]["folder"])
    tables_of_run = tables_manifest(tables, run["tables"]["id"])
    return RunInputs(run_dir=run_dir, run=run, vectors=vectors, items=items, tables=tables,
                     redirects=load_redirects(tables, tables_of_run),
                     film_links=load_film_links(tables, tables_of_run))


def build_files(given: RunInputs, staging: Path, index_id: str, cfg_index: dict,
                ranking_run: str | None, rating_run: str | None,
                states: dict[str, list[int]]) -> dict:
    """Every file of the index into `staging`; the manifest's entries by part (films,
    links, and the ranking and rating models when given)."""
    counts, tables_id = given.run["counts"], given.run["tables"]["id"]
    parts = {kind: _build_side(kind, given.vectors[kind], given.items[kind], given.redirects,
                               staging, index_id, cfg_index, states) for kind in KINDS}
    parts["films"]["colink"] = _build_colink(given.film_links, counts, staging, cfg_index,
                                             states)
    parts["films"]["map"] = _copy_map(given.run_dir, given.run, counts["films"], staging,
                                      states)
    if ranking_run:
        parts["ranking"] = ranking.build_ranking(Path(ranking_run), staging, index_id,
                                                 tables_id, states)
    if rating_run:
        parts["rating"] = rating.build_rating(Path(rating_run), staging, index_id, tables_id,
                                              states)
    return parts


def index_manifest(given: RunInputs, parts: dict, index_id: str, cfg, seconds: float) -> dict:
    cfg_index = cfg["index"]
    return build_manifest(
        INDEX_KIND, INDEX_SCHEMA_VERSION, cfg, sections=["index"], manifest_id=index_id,
        run={"folder": str(given.run_dir.resolve()), "id": given.run["id"]},
        tables={"folder": str(given.tables.resolve()), "id": given.run["tables"]["id"],
                "redirects": len(given.redirects)},
        metric=METRIC, dim=int(given.run["dim"]), n_trees=cfg_index["n_trees"],
        seed=cfg_index["seed"], on_disk_build=cfg_index["on_disk_build"], **parts,
        seconds=round(seconds, 3))


def file_entries(manifest: dict) -> list[dict]:
    """Every file entry of an index manifest (both sides, link vectors, map, models)."""
    entries = [entry for kind in KINDS for entry in (
        *(manifest[kind][role] for role in file_names(kind)),
        *((manifest[kind].get("colink") or {}).get("files") or {}).values(),
        *([manifest[kind]["map"]] if manifest[kind].get("map") else []))]
    for model in ("ranking", "rating"):
        entries += list((manifest.get(model) or {}).get("files", {}).values())
    return entries


def build_index(run_dir: str | Path, out_dir: str | Path, cfg, *, tables_dir: str | None = None,
                ranking_run: str | None = None, rating_run: str | None = None,
                overwrite: bool = False) -> dict:
    """Build the index folder `out_dir` from the finished run `run_dir` (and with
    `ranking_run` / `rating_run`, a ranking or rating run's vectors: index.ranking,
    index.rating): checked, read, written aside, published; returns its manifest."""
    run_dir, out = Path(run_dir), Path(out_dir)
    inputs = [run_dir, *(Path(p) for p in (tables_dir, ranking_run, rating_run) if p)]
    _check_out(out, inputs, overwrite)
    started = time.perf_counter()
    given = read_run_inputs(run_dir, tables_dir)
    inputs.append(given.tables)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_builds(out)
    build = uuid.uuid4().hex[:8]
    staging = out.with_name(f".{out.name}{BUILDING}{build}")
    owner = out.with_name(f".{out.name}{BUILDING}{build}{OWNER}")
    write_json(owner, writer_record())
    staging.mkdir()
    index_id = uuid.uuid4().hex
    states: dict[str, list[int]] = {}
    try:
        parts = build_files(given, staging, index_id, cfg["index"], ranking_run, rating_run,
                            states)
        manifest = index_manifest(given, parts, index_id, cfg, time.perf_counter() - started)
        write_json(staging / MANIFEST, manifest)
        _publish(staging, out, inputs, overwrite, build)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        owner.unlink(missing_ok=True)
    # Hashed as they were written: the first query need not read them again.
    verified.remember([(out / e["file"], states[e["file"]], e["sha256"])
                       for e in file_entries(manifest)])
    logger.info("index written to %s (manifest %s)", out, index_id[:8])
    return manifest
