"""The SparkSession for a job: local mode from config, or whatever spark-submit provides."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from conf import CONF_DIR, Config, read_properties, resolve_conf_path

logger = logging.getLogger(__name__)


def under_spark_submit() -> bool:
    """True when this driver was started by spark-submit (which owns master and resources)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


# The driver JVM option for spark.jit's C1-only mode (conf/base.toml, parse_dump.c1_only_jvm).
C1_ONLY = "-XX:TieredStopAtLevel=1"


# This process's default log file (private_log_file), made once, removed after success.
_private_log: Path | None = None


def spark_log_path(cfg: Config) -> Path | None:
    """The file Spark's log lines go to in local mode (spark.log_file), None for the console.
    The default is one a process, so a job's error can name it."""
    log_file = cfg["spark"]["log_file"]
    if log_file == "-" or under_spark_submit():
        return None
    if log_file:
        return Path(log_file).expanduser().resolve()
    return private_log_file()


def private_log_file() -> Path:
    """`spark.log` in a new folder that only this user can enter (mkdtemp: a random name,
    mode 0700), created empty here with O_EXCL and O_NOFOLLOW. A predictable name in the
    shared temporary folder (wikifilms-spark-<pid>.log, before) could be a symlink someone
    placed there, and the JVM would write Spark's lines through it into their target."""
    global _private_log
    if _private_log is None or not _private_log.is_file():
        folder = Path(tempfile.mkdtemp(prefix="wikifilms-spark-"))
        path = folder / "spark.log"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        _private_log = path
    return _private_log


def spark_log_note(path: Path | None) -> str:
    """What a job's error line adds about Spark's log: where it is, when it holds anything."""
    if path is not None and path.is_file() and path.stat().st_size:
        return f" (Spark's log: {path})"
    return ""


def remove_default_log(cfg: Config, path: Path | None) -> None:
    """After a job that succeeded: its default, temporary log (and its private folder)
    holds nothing to look at."""
    global _private_log
    if path is not None and not cfg["spark"]["log_file"]:
        path.unlink(missing_ok=True)
        if path == _private_log:
            with contextlib.suppress(OSError):
                path.parent.rmdir()
            _private_log = None


def log_options(cfg: Config) -> list[str]:
    """The driver JVM options that send Spark's log lines to spark_log_path's file."""
    path = spark_log_path(cfg)
    if path is None:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    config = (CONF_DIR / "log4j2-job.properties").as_uri()
    return [f"-Dlog4j2.configurationFile={config}", f"-Dwikifilms.spark_log={path}"]


def local_properties(cfg: Config, java_options: Sequence[str] = ()) -> dict[str, str]:
    """The Spark properties of a local-mode session: spark.properties_file's, with
    `java_options` (spark.jit's C1_ONLY, the class archive's) added to the driver's, and the
    event log's when spark.event_log_dir is set."""
    properties: dict[str, str] = {}
    if cfg["spark"]["properties_file"]:
        properties = read_properties(resolve_conf_path(cfg["spark"]["properties_file"]))
    if java_options:
        key = "spark.driver.extraJavaOptions"
        properties[key] = " ".join(filter(None, [properties.get(key, ""), *java_options]))
    if cfg["spark"]["event_log_dir"]:
        folder = Path(cfg["spark"]["event_log_dir"]).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)  # Spark refuses to start without it
        # One uncompressed file per application, so that bench/event_log.py (stdlib only)
        # reads it: Spark 4 otherwise rolls it over several zstd-compressed files.
        properties.update({
            "spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.as_uri(),
            "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false",
        })
    return properties


def spark_session(cfg: Config, java_options: Sequence[str] = ()):
    """Create (or join) the SparkSession; local-mode settings apply only outside spark-submit.

    `java_options` join the driver's Java options, with log_options'; they take effect only
    when this call starts the JVM (the first session of a Python process, not under
    spark-submit).
    """
    from pyspark.sql import SparkSession

    spark_cfg = cfg["spark"]
    builder = SparkSession.builder.appName(spark_cfg["app_name"])
    if not under_spark_submit():
        # Python workers must be this interpreter (the virtualenv with mwparserfromhell and
        # pyarrow), not whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(spark_cfg["master"])
        options = [*java_options, *log_options(cfg)]
        for key, value in local_properties(cfg, options).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(spark_cfg["log_level"])
    # Dense ids need one total order (row_number over an unpartitioned window). The films
    # (~150k) and kept links (<= 10^6) fit one partition; silence Spark's warning about it.
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.execution.window.WindowExec", log4j.Level.ERROR
    )
    logger.info("Spark %s, master %s", spark.version, spark.sparkContext.master)
    return spark


def apply_job_settings(spark, cfg: Config) -> None:
    """Runtime SQL settings the job needs, whichever way the session was made."""
    spark_cfg = cfg["spark"]
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(spark_cfg["max_partition_bytes"]))
    # Small files (tests, partition dumps) should still split at max_partition_bytes.
    spark.conf.set("spark.sql.files.openCostInBytes",
                   str(min(4 * 1024 * 1024, spark_cfg["max_partition_bytes"])))
    parallelism = spark.sparkContext.defaultParallelism
    min_partitions = spark_cfg["min_partitions"] or 3 * parallelism
    spark.conf.set("spark.sql.files.minPartitionNum", str(min_partitions))
    partitions = spark_cfg["shuffle_partitions"] or 4 * parallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set(
        "spark.sql.files.ignoreCorruptFiles", "true" if cfg["ingest"]["keep_readable"] else "false"
    )
