"""Dump -> Parquet tables (films, links, film_links, film_pairs, redirects) + manifest.json.

    python -m spark_jobs.parse_dump --dump PATH [PATH ...] --out TABLES_DIR [--overwrite]
                                    [--config F] [-p k=v]
    spark-submit --py-files dist/wikifilms-jobs.zip spark_jobs/parse_dump.py --dump ... --out ...

This file parses arguments, loads the config and calls `run`, which reads as the job does:
extract, transform, load (spark_jobs/ingest_steps.py), then the manifest and the swap into
place (publish.py). The DataFrame work lives in extract.py (reading the dump), pages.py /
wikitext.py (each page looked at, film pages parsed) and transforms.py (tables).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

# Under spark-submit this file runs as a script: `conf` and `spark_jobs` are imported from
# the --py-files zip (make zip), which also reaches the executors.
from conf import Config, cli
from conf.outputs import check_output_folder, check_placement
from spark_jobs.inputs import (
    DumpFile,
    check_pages_not_given_twice,
    is_local,
    resolve_hadoop,
    resolve_local,
)
from spark_jobs.publish import TABLES_KIND, OutputPublisher
from spark_jobs.session import remove_default_log, spark_log_note, spark_log_path

logger = logging.getLogger("spark_jobs.parse_dump")

TABLES = ("films", "links", "film_links", "film_pairs", "redirects")


@contextlib.contextmanager
def _job_description_cleared(spark):
    """The steps name their jobs (setJobDescription); a session used after the job is not
    left with the last step's name on its jobs."""
    try:
        yield
    finally:
        spark.sparkContext.setJobDescription(None)


def run(spark, cfg: Config, dumps: list[DumpFile], out: str, overwrite: bool = False) -> dict:
    """The whole job: read `dumps`, write the tables to `out`, return the manifest.

    `out` must be absent, empty, or a tables folder to replace with `overwrite`
    (conf/outputs.py). It is claimed for the whole run (publish.py): a second run started on
    the same `out` while this one reads the dump fails at once instead of deleting this
    one's tables."""
    check_placement(out, [d.path for d in dumps])
    publisher = OutputPublisher(spark, out, overwrite=overwrite)
    with publisher.claimed():
        return _run(spark, cfg, dumps, publisher)


def _run(spark, cfg: Config, dumps: list[DumpFile], publisher: OutputPublisher) -> dict:
    """Extract (read), transform (redirects, links), load (write), then the manifest and
    the swap into place: spark_jobs/ingest_steps.py has each step."""
    from pyspark.sql import functions as F

    from spark_jobs import ingest_steps as steps
    from spark_jobs.progress import StageProgress
    from spark_jobs.session import apply_job_settings

    apply_job_settings(spark, cfg)
    clock = steps.StepClock(spark)
    progress = StageProgress(spark.sparkContext, cfg["spark"]["progress_interval_s"], "parse_dump")
    with progress, _job_description_cleared(spark):
        clock.start(1, "read: decompress the dump, look at every page, parse the film candidates")
        read = steps.read_step(spark, cfg, dumps)
        clock.end("read")
        clock.start(2, "redirects: follow chains, break loops")
        resolved, redirect_status = steps.redirects_step(read, cfg)
        clock.end("redirects")
        clock.start(3, "links: resolve redirects, count films per link, assign ids")
        built = steps.links_step(read, resolved, cfg)
        clock.end("links")
        clock.start(4, "write: film pairs and all tables, then publish")
        counts, pairs = steps.write_step(spark, cfg, built,
                                         resolved.filter(F.col("status") == "resolved"),
                                         read.n_films, publisher.table_path)
        clock.end("write")
    clock.total()
    manifest = steps.tables_manifest(spark, cfg, dumps, publisher.run_id, read, redirect_status,
                                     built, counts, pairs, clock)
    publisher.commit(manifest)
    for df in (read.film_pages, built.occurrences, built.links, built.film_links, resolved):
        df.unpersist()
    logger.info("done in %.1f s: %d pages, %d films, %d links, %d film_links",
                clock.timings["total"], read.stats.pages, read.n_films,
                counts["links"]["rows"], counts["film_links"]["rows"])
    return manifest


def c1_only_jvm(cfg: Config, local_dumps: list[DumpFile], remote_inputs: bool = False) -> bool:
    """Whether the job's driver JVM should compile with C1 only (spark.jit: "c1", or "auto"
    with every input a local file that the C-decoder reader takes, so that the JVM does no
    per-byte work, and a job short enough for the JIT's fixed cost to matter: inputs of at
    most spark.jit_c1_max_bytes; see conf/base.toml)."""
    from spark_jobs.extract import STREAMS_READER, choose_readers

    jit = cfg["spark"]["jit"]
    if jit != "auto":
        return jit == "c1"
    if remote_inputs or sum(d.size or 0 for d in local_dumps) > cfg["spark"]["jit_c1_max_bytes"]:
        return False
    readers = choose_readers(local_dumps, cfg["ingest"]["reader"]).values()
    return all(r == STREAMS_READER for r in readers)


@contextlib.contextmanager
def job_session(cfg: Config, local_dumps: list[DumpFile], remote_inputs: bool = False):
    """The job's SparkSession, its JVM started as c1_only_jvm and the class archive say
    (class_archive.py). When the JVM is the one to write the archive, it does so once the
    block has ended without an error."""
    from spark_jobs import class_archive
    from spark_jobs.session import C1_ONLY, local_properties, spark_session

    c1_only = c1_only_jvm(cfg, local_dumps, remote_inputs)
    if c1_only:
        logger.info("driver JVM: C1 compiler only (spark.jit=%s)", cfg["spark"]["jit"])
    archive = class_archive.plan(cfg, local_properties(cfg))
    if archive is not None:
        logger.info("driver JVM: %s class archive %s",
                    "writes its" if archive.writing else "maps the", archive.path)
    options = [*([C1_ONLY] if c1_only else []), *(archive.java_options() if archive else [])]
    spark = spark_session(cfg, options)
    succeeded = False
    try:
        yield spark
        succeeded = True
    finally:
        class_archive.finish(spark, archive, succeeded)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m spark_jobs.parse_dump",
        "Read a Wikipedia XML dump (.xml, .xml.bz2, multistream or partitions) and write the "
        "films, links, film_links, film_pairs and redirects tables (Parquet) and their "
        "manifest. Local mode by default; spark-submit runs this file on a cluster.",
        "python -m spark_jobs.parse_dump --dump enwiki-20261101-pages-articles-multistream"
        ".xml.bz2 --out data/tables")
    parser.add_argument("--dump", nargs="+", required=True, metavar="PATH",
                        help="dump files, globs or folders; local paths or Hadoop URIs")
    parser.add_argument("--out", required=True, metavar="TABLES_DIR",
                        help="output folder: new, empty, or tables to replace with --overwrite "
                        "(swapped in when the job succeeds)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the tables folder already at --out")
    cli.add_config_arguments(parser)
    cli.add_logging_arguments(parser, spark=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args)
    spark_log = None
    try:
        cfg = cli.load(args)
        local = [p for p in args.dump if is_local(p)]
        remote = [p for p in args.dump if not is_local(p)]
        dumps = resolve_local(local)  # before Spark starts: a typo fails in a second
        out = args.out if not is_local(args.out) else str(Path(args.out).resolve())
        if is_local(out):  # before Spark starts; run() checks again, also remote outputs
            check_output_folder(out, TABLES_KIND, "tables folder",
                                inputs=[*args.dump, *(d.path for d in dumps)],
                                overwrite=args.overwrite)
        with job_session(cfg, dumps, remote_inputs=bool(remote)) as spark:
            spark_log = spark_log_path(cfg)  # named in an error from here on
            if remote:
                dumps += resolve_hadoop(spark, remote)
                check_pages_not_given_twice(dumps)  # a local and an hdfs:// copy, say
            run(spark, cfg, dumps, out, overwrite=args.overwrite)
    except cli.KNOWN_ERRORS as e:
        return cli.fail("parse_dump", e, spark_log_note(spark_log))
    remove_default_log(cfg, spark_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
