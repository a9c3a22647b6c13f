"""The jobs on a real cluster manager, not only local mode: Spark's standalone master and two
workers on this machine (tests/spark_cluster.py), `spark-submit --py-files` running
parse_dump and the ratings job; their tables equal local mode's, row for row."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conf import load_config
from tests.spark_cluster import ROOT, spark_submit, standalone_cluster

SHARED = ROOT.parent / "shared" / "data"
# Each table's rows in one order (its ids), whatever the partitioning wrote.
ORDER = {"films": ["film_id"], "links": ["link_id"], "film_links": ["film_id", "link_id"],
         "film_pairs": ["film_a", "film_b"], "redirects": ["source"],
         "ratings": ["user_id", "item_id"], "items": ["item_id"], "users": ["user_id"]}


def digest(folder: Path, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of the rows in id order as JSON): equal tables, equal digests."""
    rows = pq.read_table(folder / table).sort_by([(c, "ascending") for c in ORDER[table]])
    text = json.dumps(rows.to_pylist(), sort_keys=True, default=str)
    return rows.num_rows, hashlib.sha256(text.encode()).hexdigest()


def same_tables(local: Path, cluster: Path) -> list[str]:
    manifest = json.loads((local / "manifest.json").read_text())
    names = sorted(t for t in manifest["tables"] if t in ORDER)
    assert names and json.loads((cluster / "manifest.json").read_text())["tables"].keys() \
        == manifest["tables"].keys()
    for name in names:
        assert digest(local, name) == digest(cluster, name), name
    return names


def write_ratings_of(tables: Path, folder: Path, n_users: int = 40) -> Path:
    """A MovieLens-100K-layout release whose items are titled after the tables' films."""
    films = pq.read_table(tables / "films", columns=["title", "year"]).to_pylist()[:60]
    folder.mkdir(parents=True)
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_bytes("".join(
        f"{i + 1}|{f['title'].split(' (')[0]} ({f['year'] or 1990})|01-Jan-1995|||{flags}\n"
        for i, f in enumerate(films)).encode("latin-1", "replace"))
    rng = np.random.default_rng(0)
    lines = [f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + u * 100 + i}\n"
             for u in range(1, n_users + 1) for i in rng.choice(60, 12, replace=False) + 1]
    (folder / "u.data").write_text("".join(lines))
    (folder / "u.user").write_text("".join(f"{u}|30|M|writer|0000{u}\n"
                                           for u in range(1, n_users + 1)))
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    with standalone_cluster(work / "cluster") as master:
        yield master, work


@pytest.fixture(scope="module")
def jobs_zip(tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_zip import build

    return build(tmp_path_factory.mktemp("zip") / "wikifilms-jobs.zip")


def both_ways(spark, cluster, jobs_zip, dump: Path, release: Path | None, tmp: Path,
              config: list[str]) -> dict[str, list[str]]:
    """parse_dump (and the ratings job on `release`, or on ratings made for the tables) in
    local mode and on the cluster; the tables compared."""
    from spark_jobs import ratings as ratings_job
    from spark_jobs.inputs import resolve_local
    from spark_jobs.parse_dump import run as parse

    master, _ = cluster
    cfg = load_config("test", config)
    overrides = [a for c in config for a in ("-p", c)]
    parse(spark, cfg, resolve_local([str(dump)]), str(tmp / "local"))
    done = spark_submit(master, "parse_dump.py", ["--config", "test", *overrides, "--dump",
                                                  f"file://{dump}", "--out",
                                                  str(tmp / "cluster")], tmp, jobs_zip)
    assert done.returncode == 0, done.stderr[-3000:]
    compared = {"tables": same_tables(tmp / "local", tmp / "cluster")}
    release = release or write_ratings_of(tmp / "local", tmp / "ml-100k")
    ratings_job.run(spark, cfg, str(release), str(tmp / "local"), str(tmp / "ratings-local"))
    done = spark_submit(master, "ratings.py", ["--config", "test", *overrides, "--ratings",
                                               str(release), "--tables", str(tmp / "cluster"),
                                               "--out", str(tmp / "ratings-cluster")],
                        tmp, jobs_zip)
    assert done.returncode == 0, done.stderr[-3000:]
    compared["ratings"] = same_tables(tmp / "ratings-local", tmp / "ratings-cluster")
    return compared


@pytest.mark.slow
def test_the_jobs_on_a_standalone_cluster_write_local_modes_tables(spark, cluster, jobs_zip,
                                                                    tmp_path):
    """On the films-cast dump and MovieLens-100K (../shared) when they are here; else on a
    generated sample dump and ratings titled after its films (each cluster job costs a
    minute or more of JVM and Python worker start-up, so one data set, not both)."""
    dump = SHARED / "films-cast" / "enwiki-films-cast-dev.xml.bz2"
    release = SHARED / "movielens-100k" / "ml-100k"
    real = dump.exists() and release.is_dir()
    if not real:
        from sample_dump.dump import generate

        cfg = load_config("test", ["sample.films=120"])
        summary = generate(tmp_path / "dump", 120, 7, "multistream", cfg["sample"])
        dump = Path(next(f for f in summary["files"] if f.endswith("multistream.xml.bz2")))
        release = None
    compared = both_ways(spark, cluster, jobs_zip, dump, release, tmp_path, [])
    assert compared == {"tables": ["film_links", "film_pairs", "films", "links", "redirects"],
                        "ratings": ["items", "ratings", "users"]}
    films = pq.read_table(tmp_path / "cluster" / "films").num_rows
    assert films > (15_000 if real else 100)
    linked = json.loads((tmp_path / "ratings-cluster" / "manifest.json").read_text())["linking"]
    assert linked["items_linked"] > (500 if real else 30)
    # Both workers ran an executor of each job (one core each, two executors a job).
    apps = list((cluster[1] / "cluster" / "work").glob("app-*"))
    assert len(apps) >= 2 and all(len(list(app.glob("*/stderr"))) == 2 for app in apps)
