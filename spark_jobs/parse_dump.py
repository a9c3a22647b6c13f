"""Dump -> Parquet tables (films, links, film_links, film_pairs, redirects) + manifest.json.

    python -m spark_jobs.parse_dump --dump PATH [PATH ...] --out TABLES_DIR [--overwrite]
                                    [--config F] [-p k=v]
    spark-submit --py-files dist/wikifilms-jobs.zip spark_jobs/parse_dump.py --dump ... --out ...

This file parses arguments, loads the config and calls `run`; the work lives in extract.py
(reading the dump), pages.py / wikitext.py (each page looked at, film pages parsed),
transforms.py (tables) and publish.py (atomic output).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

# Under spark-submit this file runs as a script: `conf` and `spark_jobs` are imported from
# the --py-files zip (make zip), which also reaches the executors.
from conf import Config, ConfigError, cli
from conf.outputs import OutputFolderError, check_output_folder, check_placement
from conf.version import code_version
from spark_jobs.inputs import (
    DumpFile,
    InputError,
    check_pages_not_given_twice,
    is_local,
    resolve_hadoop,
    resolve_local,
)
from spark_jobs.publish import TABLES_KIND, OutputBusyError, OutputPublisher
from spark_jobs.session import remove_default_log, spark_log_note, spark_log_path

logger = logging.getLogger("spark_jobs.parse_dump")

TABLES = ("films", "links", "film_links", "film_pairs", "redirects")


class DumpReadError(RuntimeError):
    """The dump could not be read (truncated or corrupt compressed file)."""


def _dump_read_error(error: Exception) -> DumpReadError | None:
    """The DumpReadError for a failed read of the dump, or None when `error` is not one.

    Recognised (as text: bz2_streams' errors are raised in Python workers): a stream split
    inside a page (bz2_streams.UnalignedStreamsError, whose message says what to do); a
    truncated or corrupt file (bz2_streams.StreamReadError, or Spark's FAILED_READ_FILE).
    """
    text = str(error)
    unaligned = re.search(r"UnalignedStreamsError: ([^\n]+)", text)
    if unaligned:
        return DumpReadError(f"cannot read {unaligned.group(1)}")
    streams = re.search(r"StreamReadError: (\S+): ([^\n]+)", text)
    spark_read = re.search(r"error while reading file (\S+?)\.?\s", text)
    if streams:
        file, cause = streams.group(1), streams.group(2)
    elif spark_read:
        causes = re.findall(r"Caused by: ([^\n]+)", text)
        file, cause = spark_read.group(1), (causes[-1] if causes else "read error")
    else:
        return None
    return DumpReadError(
        f"cannot read {file}: {cause}. The file is truncated or corrupt: download it again "
        "(and check its SHA-1), or run with -p ingest.keep_readable=true to keep the pages "
        "before the damage"
    )


def _file_key(path: str) -> str:
    """Spark writes local files as `file:/x` or `file:///x`; compare them as `/x`."""
    return urlparse(path).path if path.startswith("file:") else path


def _namespace_order(ns: str) -> tuple[bool, int]:
    """Namespaces by number, "unknown" last."""
    numeric = ns.lstrip("-").isdigit()
    return (not numeric, int(ns) if numeric else 0)


def _examples(df, status_col: str, limit: int) -> dict[str, list[dict]]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ranked = df.withColumn(
        "_n", F.row_number().over(Window.partitionBy(status_col).orderBy("page_id", "title"))
    ).filter(F.col("_n") <= limit)
    out: dict[str, list[dict]] = {}
    for row in ranked.collect():
        item = {k: v for k, v in row.asDict().items() if k not in (status_col, "_n")}
        out.setdefault(row[status_col], []).append(item)
    return out


@contextlib.contextmanager
def _job_description_cleared(spark):
    """The steps name their jobs (setJobDescription); a session used after the job is not
    left with the last step's name on its jobs."""
    try:
        yield
    finally:
        spark.sparkContext.setJobDescription(None)


def _jvm_cpu_clock(spark):
    """A function giving the driver JVM's CPU seconds so far, or None where the JVM cannot
    tell (steps after the read are CPU-bound: bench/ingest-history.md)."""
    process = spark.sparkContext._jvm.java.lang.ProcessHandle.current()

    def seconds() -> float | None:
        try:
            duration = process.info().totalCpuDuration()
            return duration.get().toNanos() / 1e9 if duration.isPresent() else None
        except Exception:  # noqa: BLE001 - a measurement, never a reason to fail the job
            return None

    return seconds


def _spent(before: float | None, now: float | None) -> float | None:
    return None if before is None or now is None else now - before


def _pair_cap(links, pair_cfg):
    """transforms.PairCap for the links table: the pair rows are counted before they are made
    (one small job over the links' film counts), so a budget bounds the step on any dump."""
    from spark_jobs import transforms

    films_per_link = {r["film_count"]: r["count"]
                      for r in links.groupBy("film_count").count().collect()}
    cap = transforms.pair_cap(films_per_link, pair_cfg["max_link_films"], pair_cfg["max_pair_rows"])
    if cap.lowered:
        logger.warning(
            "film_pairs: links on up to %d films would make more than pairs.max_pair_rows=%d "
            "pair rows; using links on at most %d films (%d pair rows). Raise "
            "pairs.max_pair_rows to use more", pair_cfg["max_link_films"],
            pair_cfg["max_pair_rows"], cap.link_films_cap, cap.pair_rows)
    logger.info("film_pairs: %d links on at most %d films, %d pair rows before aggregation",
                cap.links_used, cap.link_films_cap, cap.pair_rows)
    return cap


def _link_films(film_links, links, n_films: int, link_films_cap: int):
    """pairs.LinkFilms of the links on at most `link_films_cap` films (one job: their
    film_links rows reach the driver, which broadcasts them to the pair tasks)."""
    from spark_jobs import transforms
    from spark_jobs.pairs import LinkFilms

    members = transforms.pair_members(film_links, links, link_films_cap)
    return LinkFilms.from_arrow(members.toArrow(), n_films)


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
    from concurrent.futures import ThreadPoolExecutor

    from pyspark import StorageLevel
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from spark_jobs import extract, transforms
    from spark_jobs.pages import FILM_COLUMNS, PageSettings
    from spark_jobs.progress import StageProgress
    from spark_jobs.publish import SCHEMA_VERSION, TABLES_KIND
    from spark_jobs.session import apply_job_settings
    from spark_jobs.wikitext import FILM, NOT_FILM

    apply_job_settings(spark, cfg)
    ingest, link_cfg, pair_cfg = cfg["ingest"], cfg["links"], cfg["pairs"]
    timings: dict[str, float] = {}
    cpu: dict[str, float | None] = {}  # the JVM's CPU seconds at each step's start, then spent
    jvm_cpu_s = _jvm_cpu_clock(spark)
    started, cpu_started = time.monotonic(), jvm_cpu_s()
    progress = StageProgress(spark.sparkContext, cfg["spark"]["progress_interval_s"], "parse_dump")

    def step(number: int, name: str) -> None:
        timings_key = name.split(":")[0]
        timings[timings_key] = time.monotonic()
        cpu[timings_key] = jvm_cpu_s()
        logger.info("Step %d/4: %s", number, name)
        # Names the step's jobs in Spark's UI and event log (bench/event_log.py).
        spark.sparkContext.setJobDescription(f"step {number}/4: {timings_key}")

    def step_ended(key: str) -> None:
        timings[key] = time.monotonic() - timings[key]
        cpu[key] = _spent(cpu[key], jvm_cpu_s())

    with progress, _job_description_cleared(spark):
        # 1. One pass over the compressed dump: every page looked at, film candidates parsed
        # where their text is (pages.py); the small page rows are kept for the steps below.
        step(1, "read: decompress the dump, look at every page, parse the film candidates")
        readers = extract.choose_readers(dumps, ingest["reader"])
        pages = extract.read_pages(
            spark, dumps, PageSettings.from_config(cfg), readers, ingest["keep_readable"]
        ).persist(getattr(StorageLevel, ingest["storage_level"]))
        try:
            page_stats = (
                pages.groupBy("file", "ns", (F.col("redirect_to").isNotNull()).alias("redirect"),
                              "status", "is_candidate", "is_page")
                .agg(F.count("*").alias("n"), F.sum("bytes").alias("bytes"),
                     F.max("has_trailer").alias("trailer"),
                     F.count(F.when(F.col("bad_utf8"), 1)).alias("bad_utf8"))
                .collect()
            )
        except Exception as e:
            read_error = _dump_read_error(e)
            if read_error is None:
                raise
            raise read_error from e

        per_file: dict[str, dict] = {}
        by_ns: dict[str, int] = {}
        statuses: dict[str, int] = {}
        pages_read = redirect_pages = candidates = bad_utf8 = 0
        for r in page_stats:
            f = per_file.setdefault(_file_key(r["file"]),
                                    {"pages": 0, "xml_bytes": 0, "complete": False})
            f["xml_bytes"] += r["bytes"] or 0
            f["complete"] = f["complete"] or bool(r["trailer"])
            if not r["is_page"]:
                continue
            f["pages"] += r["n"]
            pages_read += r["n"]
            ns = "unknown" if r["ns"] is None else str(r["ns"])
            by_ns[ns] = by_ns.get(ns, 0) + r["n"]
            redirect_pages += r["n"] if r["redirect"] else 0
            candidates += r["n"] if r["is_candidate"] else 0
            bad_utf8 += r["bad_utf8"]
            if r["status"]:
                statuses[r["status"]] = statuses.get(r["status"], 0) + r["n"]
        if pages_read == 0:
            raise InputError(
                f"no <page> records in {', '.join(d.path for d in dumps)}: "
                "is this a MediaWiki XML export (pages-articles)?"
            )
        damaged = sorted(p for p, f in per_file.items() if not f["complete"])
        pageless = [p for p in damaged if per_file[p]["pages"] == 0]
        if pageless:
            logger.warning("inputs without a single <page> (not a MediaWiki pages export?): %s",
                           pageless)
        if len(pageless) < len(damaged):
            logger.warning("inputs without their closing </mediawiki> (truncated?): %s",
                           [p for p in damaged if p not in pageless])
        skipped = {k: v for k, v in statuses.items() if k not in (FILM, NOT_FILM)}
        skipped_examples = _examples(
            pages.filter(F.col("status").isNotNull() & ~F.col("status").isin(FILM, NOT_FILM))
            .select(F.col("status").alias("reason"), "page_id", "title", "file", "bytes", "error"),
            "reason",
            ingest["skipped_examples"],
        ) if skipped else {}
        bad_utf8_examples = _examples(
            pages.filter(F.col("bad_utf8"))
            .select(F.lit("bad_utf8").alias("reason"), "page_id", "title", "file"),
            "reason", ingest["skipped_examples"],
        ).get("bad_utf8", []) if bad_utf8 else []
        if bad_utf8:
            logger.warning("%d pages held bytes that are not UTF-8 (read as U+FFFD), e.g. %s",
                           bad_utf8, ", ".join(repr(e["title"]) for e in bad_utf8_examples[:3]))
        for reason, items in skipped_examples.items():
            for item in items[:3]:
                logger.warning("skipped page (%s): %r %s", reason, item.get("title"),
                               item.get("error") or "")
        film_pages = transforms.assign_film_ids(
            transforms.film_rows(pages.select(*FILM_COLUMNS))
        ).persist()
        n_films = film_pages.count()
        step_ended("read")

        # 2. Redirects: every article/category redirect, chains followed to the final page.
        step(2, "redirects: follow chains, break loops")
        resolved = transforms.resolve_redirects(
            extract.redirect_edges(pages), link_cfg["max_redirect_hops"]
        ).persist()
        redirect_status = {r["status"]: r["n"] for r in
                           resolved.groupBy("status").agg(F.count("*").alias("n")).collect()}
        redirects = resolved.filter(F.col("status") == "resolved")
        pages.unpersist()
        step_ended("redirects")

        # 3. Links: resolve, count, filter, number.
        step(3, "links: resolve redirects, count films per link, assign ids")
        occurrences = transforms.link_occurrences(
            film_pages, resolved, link_cfg["drop_self_links"]
        ).persist()
        via = {r["via"]: (r["n"], r["occ"]) for r in occurrences.groupBy("via").agg(
            F.count("*").alias("n"), F.sum("count").alias("occ")).collect()}
        usable = occurrences.filter(F.col("via") != "broken")
        stop_list = list(link_cfg["stop_list"])
        if link_cfg["stop_list_file"]:
            stop_list += [
                line.strip() for line in Path(link_cfg["stop_list_file"]).read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
        links = transforms.build_links(
            usable, film_pages, link_cfg["min_film_count"], stop_list
        ).persist()
        film_links = transforms.build_film_links(usable, links).persist()
        films = transforms.build_films(
            transforms.resolve_infobox_names(film_pages, resolved), film_links, usable
        )
        step_ended("links")

        # 4. Write every table aside (film pairs made on the way) and publish.
        step(4, "write: film pairs and all tables, then publish")
        # A table's DataFrame, or a function making it in the table's write thread.
        tables: dict = {
            # One file each (films ~150k rows, links <= 10^6): a single-partition sort needs
            # no sampling job, unlike orderBy's range partitioning.
            "films": films.repartition(1).sortWithinPartitions("film_id"),
            "links": links.repartition(1).sortWithinPartitions("link_id"),
            "film_links": film_links.repartition("film_id")
            .sortWithinPartitions("film_id", "link_id"),
            "redirects": redirects.select("source", "target", "hops").orderBy("source"),
        }
        pairs: dict = {"enabled": pair_cfg["enabled"]}

        def film_pairs_table():
            # Made in its write thread: the two small jobs that size and collect the pairs'
            # links run while the other tables are written, not before them (3.4 GB-XML dump,
            # four interleaved pairs of jobs: the step 9.3-11.9 s against 10.8-13.3).
            cap = _pair_cap(links, pair_cfg)
            # What the budget decided (the settings themselves are in the manifest's config).
            pairs.update(link_films_cap=cap.link_films_cap, lowered_by_budget=cap.lowered,
                         links_used=cap.links_used, pair_rows_before_aggregation=cap.pair_rows)
            link_films = spark.sparkContext.broadcast(
                _link_films(film_links, links, n_films, cap.link_films_cap))
            broadcasts.append(link_films)
            return transforms.build_film_pairs(film_links, link_films, pair_cfg["min_shared"])

        # Destroyed once the writes end: on the full dump ~120 MB (8 bytes for each of ~15 M
        # film_links rows of used links, estimated) that a session running the job again
        # would otherwise keep.
        broadcasts: list = []
        if pair_cfg["enabled"]:
            tables["film_pairs"] = film_pairs_table

        def write_table(name: str) -> dict:
            spark.sparkContext.setJobDescription(f"write {name}")  # this thread's jobs
            df = tables[name]() if callable(tables[name]) else tables[name]
            # Rows counted as they pass to the writer (no second job reading the files).
            observed = Observation(f"{name}_rows")
            counted = df.observe(observed, F.count(F.lit(1)).alias("rows"))
            counted.write.mode("overwrite").parquet(publisher.table_path(name))
            rows = observed.get["rows"]
            logger.info("wrote %s: %d rows", name, rows)
            return {"path": name, "rows": rows, "columns": [f.name for f in df.schema.fields]}

        # The writes are independent small jobs whose time is mostly the driver planning
        # them: in threads, one's tasks run while the next is planned (337 MB-XML dump,
        # three interleaved pairs: 6.1-6.4 s against 7.7-8.4 s serial). The pool is left
        # only when every write has ended, so a failed run's abort() never races a writer.
        try:
            with ThreadPoolExecutor(len(tables), thread_name_prefix="write") as pool:
                counts = dict(zip(tables, pool.map(write_table, tables), strict=True))
        finally:
            for b in broadcasts:
                try:
                    b.destroy()
                except Exception as e:  # noqa: BLE001 - a cleanup never hides how the run ended
                    logger.warning("could not destroy film_pairs' broadcast: %s", e)
        step_ended("write")

    timings["total"] = time.monotonic() - started
    cpu["total"] = _spent(cpu_started, jvm_cpu_s())
    occurrences_total = sum(v[1] for v in via.values())
    manifest = {
        "kind": TABLES_KIND,
        "schema_version": SCHEMA_VERSION,
        "id": publisher.run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "inputs": [
            {"path": d.path, "size_bytes": d.size, "reader": readers[d.path],
             **per_file.get(_file_key(d.path), {})}
            for d in dumps
        ],
        "damaged_inputs": damaged,
        "keep_readable": ingest["keep_readable"],
        "config": cfg.to_dict(),
        "config_sources": cfg.sources,
        "spark": {"version": spark.version, "master": spark.sparkContext.master,
                  "default_parallelism": spark.sparkContext.defaultParallelism},
        "tables": counts,
        "pages": {
            "read": pages_read,
            "by_namespace": dict(sorted(by_ns.items(), key=lambda kv: _namespace_order(kv[0]))),
            "redirects": redirect_pages,
            "film_candidates": candidates,
            "films": n_films,
            "prefilter_rejected": statuses.get(NOT_FILM, 0),
            "skipped": skipped,
            "skipped_examples": skipped_examples,
            # Title, redirect or parsed film text with U+FFFD (bytes that were not UTF-8).
            "bad_utf8": bad_utf8,
            "bad_utf8_examples": bad_utf8_examples,
        },
        "redirects": {"pages": redirect_pages,
                      "article_and_category": sum(redirect_status.values()),
                      **{s: redirect_status.get(s, 0) for s in ("resolved", "loop", "too_long")}},
        "links": {
            "occurrences": occurrences_total,
            "film_targets": sum(v[0] for v in via.values()),
            "via_redirect": via.get("redirect", (0, 0))[0],
            "to_broken_redirects": via.get("broken", (0, 0))[0],
            "kept": counts["links"]["rows"],
            "min_film_count": link_cfg["min_film_count"],
            "stop_list_size": len(stop_list),
        },
        "pairs": pairs,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        # CPU seconds of the driver's JVM per step: in local mode the tasks, the planning, code
        # generation, JIT compiling and garbage collection together (not the Python workers
        # of the read); on a cluster the driver's alone. None where the JVM cannot tell.
        "jvm_cpu_s": {k: None if v is None else round(v, 3) for k, v in cpu.items()},
    }
    publisher.commit(manifest)
    for p in (film_pages, occurrences, links, film_links, resolved):
        p.unpersist()
    logger.info(
        "done in %.1f s: %d pages, %d films, %d links, %d film_links",
        timings["total"], pages_read, n_films, counts["links"]["rows"],
        counts["film_links"]["rows"],
    )
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
    except (ConfigError, InputError, DumpReadError, OutputBusyError, OutputFolderError,
            OSError) as e:
        print(f"parse_dump: error: {e}{spark_log_note(spark_log)}", file=sys.stderr)
        return 2
    remove_default_log(cfg, spark_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
