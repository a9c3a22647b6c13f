"""The driver JVM's class-data sharing archive (AppCDS): Spark's classes loaded once, mapped after.

A cold local job spends seconds of its start loading and verifying thousands of classes from
Spark's jars. Java 17 can write the classes a JVM loaded to an archive when it exits
(`-XX:ArchiveClassesAtExit`) and map them at the start of later JVMs
(`-XX:SharedArchiveFile`); a job's start gets shorter (measured: docs/ingestion.md).

spark.class_archive = "auto" (opt-in): the first local job that starts a JVM writes the
archive when it ends (once; ~150-200 MB under spark.class_archive_dir), later jobs map it.
The file name holds a key of what must not change under it (the java binary, Spark's jars,
the driver's extra class path); the JVM checks the rest, and when it cannot map an archive it
prints one warning and runs without it. Only for a JVM the job starts itself: never under
spark-submit, nor when a session already runs in this process (tests). A new key (another
pyspark or JDK) writes a new archive; the folder keeps the KEEP_ARCHIVES most recently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from conf import Config

logger = logging.getLogger(__name__)

# The JVM lists every class it could not archive (signed jars, old class files) as a warning
# at exit: dozens of lines that say nothing to a user. Errors still print.
_QUIET_DUMP = "-Xlog:cds=error -Xlog:cds+dynamic=error"
# How long the job waits for its JVM to write the archive (it takes tens of seconds) before
# giving up.
_WRITE_TIMEOUT_S = 300.0
# Archives kept in the folder, the most recently used (~200 MB each). Another pyspark or JDK
# makes another key, so without a limit every upgrade would leave one behind; a few stay for
# checkouts with different versions sharing the folder.
KEEP_ARCHIVES = 3


@dataclass(frozen=True)
class ClassArchive:
    """The archive of one JVM setup: `path` once written; `partial` when this JVM writes it."""

    path: Path
    partial: Path | None = None

    @property
    def writing(self) -> bool:
        return self.partial is not None

    def java_options(self) -> list[str]:
        if self.partial is not None:
            return [f"-XX:ArchiveClassesAtExit={self.partial}", _QUIET_DUMP]
        return [f"-XX:SharedArchiveFile={self.path}"]


def default_folder() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "wikifilms"


def _java_binary() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(java).resolve() if java and Path(java).exists() else None


def _spark_jars() -> Path:
    import pyspark

    home = os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__)
    return Path(home) / "jars"


def archive_key(properties: dict[str, str]) -> str | None:
    """A digest of what an archive is only valid for; None when java cannot be found."""
    java = _java_binary()
    if java is None:
        return None
    jars = _spark_jars()
    parts = [str(java), str(java.stat().st_size), str(java.stat().st_mtime_ns), str(jars)]
    if jars.is_dir():
        parts += sorted(f"{p.name}:{p.stat().st_size}" for p in jars.iterdir())
    parts += [properties.get("spark.driver.extraClassPath", ""), properties.get("spark.jars", "")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def plan(cfg: Config, properties: dict[str, str]) -> ClassArchive | None:
    """The archive the job's JVM should map, or write when there is none yet; None when off,
    under spark-submit, or when this process already has a JVM (its options are set)."""
    from pyspark import SparkContext

    from spark_jobs.session import under_spark_submit

    if (cfg["spark"]["class_archive"] == "off" or under_spark_submit()
            or SparkContext._gateway is not None):
        return None
    key = archive_key(properties)
    if key is None:
        return None
    folder = Path(cfg["spark"]["class_archive_dir"] or default_folder()).expanduser()
    path = folder / f"spark-classes-{key}.jsa"
    if path.is_file():
        with contextlib.suppress(OSError):  # its time of last use, for _prune (read-only: no)
            os.utime(path)
        return ClassArchive(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        logger.warning("no JVM class archive: cannot create %s (%s)", folder, e)
        return None
    _remove_orphans(folder)
    return ClassArchive(path, folder / f"{path.name}.{os.getpid()}.partial")


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently used archives (plan() touches one it maps;
    one just written is the newest). Only once a new archive is in place, so that planning
    alone (the bench asks which archive to map) never deletes anything."""
    def last_used(archive: Path) -> float:
        try:
            return archive.stat().st_mtime
        except OSError:
            return 0.0

    archives = sorted(folder.glob("spark-classes-*.jsa"), key=last_used, reverse=True)
    for old in archives[keep:]:
        try:
            size = old.stat().st_size
            old.unlink()
        except OSError:
            continue
        logger.info("removed an unused class archive (%.0f MB): %s", size / 1e6, old)


def _remove_orphans(folder: Path) -> None:
    """Partial archives whose writer is gone (a job killed while its JVM wrote)."""
    for partial in folder.glob("spark-classes-*.jsa.*.partial"):
        try:
            os.kill(int(partial.suffixes[-2].lstrip(".")), 0)
        except ProcessLookupError:
            partial.unlink(missing_ok=True)
        except (ValueError, PermissionError, IndexError):
            continue


def finish(spark, archive: ClassArchive | None, succeeded: bool) -> None:
    """After the job: when its JVM is to write the archive, stop it and wait while it writes
    (it does so at exit), then move the archive into place; a failed job's JVM is killed
    unwritten. A Python process that just ended would leave the JVM to write the file alone,
    and nobody would know when it is whole."""
    from pyspark import SparkContext

    if archive is None or not archive.writing:
        return
    process = getattr(SparkContext._gateway, "proc", None)
    spark.stop()
    if process is None:
        return
    try:
        if succeeded:
            _wait_for_archive(process, archive)
        else:
            process.kill()
            process.wait()
            archive.partial.unlink(missing_ok=True)
    finally:
        # This process has no JVM any more; a later session in it must start a new one.
        SparkContext._gateway = None
        SparkContext._jvm = None


def _wait_for_archive(process: subprocess.Popen, archive: ClassArchive) -> None:
    logger.info("writing the JVM's class archive for the next jobs (once): %s", archive.path)
    started = time.monotonic()
    process.stdin.close()  # the gateway JVM exits when its stdin closes, and writes then
    try:
        code = process.wait(timeout=_WRITE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        code = None
    if code == 0 and archive.partial.is_file() and archive.partial.stat().st_size > 0:
        os.replace(archive.partial, archive.path)
        logger.info("class archive written in %.1f s (%.0f MB); later jobs start faster",
                    time.monotonic() - started, archive.path.stat().st_size / 1e6)
        _prune(archive.path.parent, KEEP_ARCHIVES)
    else:
        archive.partial.unlink(missing_ok=True)
        logger.warning("the JVM did not write its class archive (exit code %s); jobs run "
                       "without one", code)
