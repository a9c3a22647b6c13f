"""The driver JVM's class archive (spark_jobs/class_archive.py): when it is written, mapped,
left alone; and, end to end in fresh processes, that a JVM writes one and the next maps it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conf import ConfigError, load_config
from spark_jobs import class_archive

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_jvm(monkeypatch):
    """As in a fresh job process: no JVM started yet (the test session's is hidden)."""
    from pyspark import SparkContext

    monkeypatch.setattr(SparkContext, "_gateway", None)


def _cfg(folder: Path, mode: str = "auto"):
    return load_config(None, [f'spark.class_archive="{mode}"',
                              f'spark.class_archive_dir="{folder}"'])


def test_first_job_writes_the_archive_later_ones_map_it(no_jvm, tmp_path):
    folder = tmp_path / "cache"
    writing = class_archive.plan(_cfg(folder), {})
    assert writing.writing and writing.path.parent == folder and folder.is_dir()
    assert writing.partial.name == f"{writing.path.name}.{os.getpid()}.partial"
    assert writing.java_options()[0] == f"-XX:ArchiveClassesAtExit={writing.partial}"

    writing.path.write_bytes(b"archive")
    mapping = class_archive.plan(_cfg(folder), {})
    assert mapping == class_archive.ClassArchive(writing.path)
    assert mapping.java_options() == [f"-XX:SharedArchiveFile={writing.path}"]


class _ExitingJvm:
    """A gateway JVM that writes its archive when its stdin closes, as the real one does."""

    def __init__(self, partial: Path) -> None:
        self.partial = partial
        self.stdin = self

    def close(self) -> None:
        self.partial.write_bytes(b"new archive")

    def wait(self, timeout=None) -> int:
        return 0


def test_only_the_most_recently_used_archives_are_kept(no_jvm, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    others = [folder / f"spark-classes-{n:016x}.jsa" for n in range(4)]
    for age, archive in enumerate(others):  # others[0] the most recently used
        archive.write_bytes(b"old archive")
        os.utime(archive, (1e9 - age * 1000, 1e9 - age * 1000))
    unrelated = folder / "notes.txt"
    unrelated.write_text("not an archive")

    writing = class_archive.plan(_cfg(folder), {})  # a new key: this JVM will write one
    assert sorted(folder.glob("spark-classes-*.jsa")) == others  # planning deletes nothing
    class_archive._wait_for_archive(_ExitingJvm(writing.partial), writing)
    assert writing.path.read_bytes() == b"new archive" and not writing.partial.exists()
    kept = sorted(folder.glob("spark-classes-*.jsa"))
    assert kept == sorted([writing.path, *others[:class_archive.KEEP_ARCHIVES - 1]])
    assert unrelated.exists()

    os.utime(writing.path, (1.0, 1.0))  # written long ago, and mapped now:
    assert class_archive.plan(_cfg(folder), {}).path == writing.path
    assert writing.path.stat().st_mtime > 1e9  # now the most recently used
    class_archive._prune(folder, 1)
    assert sorted(folder.glob("spark-classes-*.jsa")) == [writing.path]


def test_no_archive_when_off_or_for_a_running_jvm(tmp_path, spark, monkeypatch):
    assert class_archive.plan(_cfg(tmp_path), {}) is None  # this process's JVM already runs
    from pyspark import SparkContext

    monkeypatch.setattr(SparkContext, "_gateway", None)
    assert class_archive.plan(_cfg(tmp_path, "off"), {}) is None
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")  # spark-submit's driver
    assert class_archive.plan(_cfg(tmp_path), {}) is None
    with pytest.raises(ConfigError, match="class_archive must be one of auto, off"):
        _cfg(tmp_path, "always")


def test_archive_key_follows_the_class_path(no_jvm, tmp_path):
    plain = class_archive.plan(_cfg(tmp_path), {}).path
    assert class_archive.plan(_cfg(tmp_path), {}).path == plain
    extra = class_archive.plan(_cfg(tmp_path), {"spark.driver.extraClassPath": "/x.jar"}).path
    assert extra != plain and extra.parent == plain.parent


def test_partial_archives_of_dead_writers_are_removed(no_jvm, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"spark-classes-0123456789abcdef.jsa.{dead.pid}.partial"
    alive = tmp_path / f"spark-classes-0123456789abcdef.jsa.{os.getppid()}.partial"
    orphan.write_bytes(b"half")
    alive.write_bytes(b"half")
    class_archive.plan(_cfg(tmp_path), {})
    assert not orphan.exists() and alive.exists()


_JOB = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from conf import load_config
    from spark_jobs.parse_dump import job_session
    cfg = load_config("test", sys.argv[2:])
    with job_session(cfg, []) as spark:
        spark.range(100).selectExpr("sum(id)").collect()
        if sys.argv[1] == "fail":
            raise SystemExit("the job failed")
""")


@pytest.mark.slow
def test_a_job_jvm_writes_the_archive_and_the_next_maps_it(tmp_path):
    # A dynamic archive sits on the JDK's own default CDS archive, which some builds lack.
    if subprocess.run(["java", "-Xshare:on", "-version"], capture_output=True).returncode != 0:
        pytest.skip("this JDK has no default class-data sharing archive to build on")
    folder = tmp_path / "cache"
    overrides = [f'spark.class_archive_dir="{folder}"', 'spark.class_archive="auto"']

    def job(outcome: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PYSPARK_GATEWAY_PORT", None)
        return subprocess.run([sys.executable, "-c", _JOB, outcome, *overrides], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)

    failed = job("fail")
    assert failed.returncode != 0 and "writes its class archive" in failed.stderr
    assert list(folder.iterdir()) == []  # a failed job's JVM is killed before it writes

    wrote = job("succeed")
    assert wrote.returncode == 0, wrote.stderr[-2000:]
    assert "class archive written" in wrote.stderr
    [archive] = folder.iterdir()  # moved into place: no partial file left
    assert archive.name.startswith("spark-classes-") and archive.suffix == ".jsa"
    assert archive.stat().st_size > 10_000_000

    mapped = job("succeed")
    assert mapped.returncode == 0, mapped.stderr[-2000:]
    assert f"maps the class archive {archive}" in mapped.stderr
    # The JVM says so (one warning, on its stdout) when it cannot map an archive.
    assert "Unable to use shared archive" not in mapped.stdout + mapped.stderr
