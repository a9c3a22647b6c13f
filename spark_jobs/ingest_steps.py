"""The ingestion job's four steps and its manifest, as parse_dump.run calls them in order:

    read_step       extract: the dump's pages (one pass), their statistics, the film pages
    redirects_step  transform: redirect chains followed, loops broken
    links_step      transform: links resolved, counted, filtered, numbered; films completed
    write_step      load: every table written aside (film pairs made on the way)
    tables_manifest what the run read, skipped, wrote and spent

Each step's DataFrame work lives in extract.py and transforms.py; a step here strings it
together, collects the figures the manifest reports, and persists what the next step reads.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from conf import Config
from conf.errors import WikifilmsError
from spark_jobs.inputs import DumpFile, InputError

logger = logging.getLogger("spark_jobs.parse_dump")


class DumpReadError(WikifilmsError, RuntimeError):
    """The dump could not be read (truncated or corrupt compressed file)."""


def dump_read_error(error: Exception) -> DumpReadError | None:
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


def file_key(path: str) -> str:
    """Spark writes local files as `file:/x` or `file:///x`; compare them as `/x`."""
    return urlparse(path).path if path.startswith("file:") else path


def _namespace_order(ns: str) -> tuple[bool, int]:
    """Namespaces by number, "unknown" last."""
    numeric = ns.lstrip("-").isdigit()
    return (not numeric, int(ns) if numeric else 0)


def examples(df, status_col: str, limit: int) -> dict[str, list[dict]]:
    """Up to `limit` rows of each value of `status_col` (by page id), that column left out."""
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


class StepClock:
    """Each step's wall seconds and the driver JVM's CPU seconds (None where the JVM cannot
    tell: steps after the read are CPU-bound, bench/history/ingest.md); names the step's
    jobs in Spark's UI and event log (bench/event_log.py)."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self._process = spark.sparkContext._jvm.java.lang.ProcessHandle.current()
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float | None] = {}
        self._started, self._cpu_started = time.monotonic(), self.jvm_cpu_s()

    def jvm_cpu_s(self) -> float | None:
        try:
            duration = self._process.info().totalCpuDuration()
            return duration.get().toNanos() / 1e9 if duration.isPresent() else None
        except Exception:  # noqa: BLE001 - a measurement, never a reason to fail the job
            return None

    @staticmethod
    def _spent(before: float | None, now: float | None) -> float | None:
        return None if before is None or now is None else now - before

    def start(self, number: int, name: str) -> None:
        key = name.split(":")[0]
        self.timings[key], self.cpu[key] = time.monotonic(), self.jvm_cpu_s()
        logger.info("Step %d/4: %s", number, name)
        self.spark.sparkContext.setJobDescription(f"step {number}/4: {key}")

    def end(self, key: str) -> None:
        self.timings[key] = time.monotonic() - self.timings[key]
        self.cpu[key] = self._spent(self.cpu[key], self.jvm_cpu_s())

    def total(self) -> None:
        self.timings["total"] = time.monotonic() - self._started
        self.cpu["total"] = self._spent(self._cpu_started, self.jvm_cpu_s())


# --- 1. read -------------------------------------------------------------------------------
@dataclass
class ReadStats:
    """What the read saw: per input file, by namespace, by outcome."""

    per_file: dict[str, dict] = field(default_factory=dict)
    by_ns: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    redirects: int = 0
    candidates: int = 0
    bad_utf8: int = 0

    def add(self, r) -> None:
        """One row of read_step's aggregation over the page rows."""
        f = self.per_file.setdefault(file_key(r["file"]),
                                     {"pages": 0, "xml_bytes": 0, "complete": False})
        f["xml_bytes"] += r["bytes"] or 0
        f["complete"] = f["complete"] or bool(r["trailer"])
        if not r["is_page"]:
            return
        f["pages"] += r["n"]
        self.pages += r["n"]
        ns = "unknown" if r["ns"] is None else str(r["ns"])
        self.by_ns[ns] = self.by_ns.get(ns, 0) + r["n"]
        self.redirects += r["n"] if r["redirect"] else 0
        self.candidates += r["n"] if r["is_candidate"] else 0
        self.bad_utf8 += r["bad_utf8"]
        if r["status"]:
            self.statuses[r["status"]] = self.statuses.get(r["status"], 0) + r["n"]

    @property
    def damaged(self) -> list[str]:
        """Inputs without their closing </mediawiki> (truncated, or not a pages export)."""
        return sorted(p for p, f in self.per_file.items() if not f["complete"])


@dataclass
class Read:
    """read_step's outcome: the persisted page rows and film pages, and what was seen."""

    pages: object  # DataFrame of pages.PAGE_SCHEMA rows, persisted
    film_pages: object  # DataFrame of numbered film rows, persisted
    n_films: int
    readers: dict[str, str]
    stats: ReadStats
    skipped: dict[str, int]
    skipped_examples: dict[str, list[dict]]
    bad_utf8_examples: list[dict]


def read_step(spark, cfg: Config, dumps: list[DumpFile]) -> Read:
    """One pass over the compressed dump: every page looked at, film candidates parsed where
    their text is (pages.py); the small page rows are kept for the steps below."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from spark_jobs import extract, transforms
    from spark_jobs.pages import FILM_COLUMNS, PageSettings
    from spark_jobs.wikitext import FILM, NOT_FILM

    ingest = cfg["ingest"]
    readers = extract.choose_readers(dumps, ingest["reader"])
    pages = extract.read_pages(
        spark, dumps, PageSettings.from_config(cfg), readers, ingest["keep_readable"]
    ).persist(getattr(StorageLevel, ingest["storage_level"]))
    stats = ReadStats()
    try:
        for row in (pages.groupBy("file", "ns", F.col("redirect_to").isNotNull().alias("redirect"),
                                  "status", "is_candidate", "is_page")
                    .agg(F.count("*").alias("n"), F.sum("bytes").alias("bytes"),
                         F.max("has_trailer").alias("trailer"),
                         F.count(F.when(F.col("bad_utf8"), 1)).alias("bad_utf8"))
                    .collect()):
            stats.add(row)
    except Exception as e:
        read_error = dump_read_error(e)
        if read_error is None:
            raise
        raise read_error from e
    if stats.pages == 0:
        raise InputError(f"no <page> records in {', '.join(d.path for d in dumps)}: "
                         "is this a MediaWiki XML export (pages-articles)?")
    _warn_damaged(stats)
    skipped = {k: v for k, v in stats.statuses.items() if k not in (FILM, NOT_FILM)}
    skipped_examples = examples(
        pages.filter(F.col("status").isNotNull() & ~F.col("status").isin(FILM, NOT_FILM))
        .select(F.col("status").alias("reason"), "page_id", "title", "file", "bytes", "error"),
        "reason", ingest["skipped_examples"]) if skipped else {}
    bad_utf8_examples = examples(
        pages.filter(F.col("bad_utf8"))
        .select(F.lit("bad_utf8").alias("reason"), "page_id", "title", "file"),
        "reason", ingest["skipped_examples"]).get("bad_utf8", []) if stats.bad_utf8 else []
    if stats.bad_utf8:
        logger.warning("%d pages held bytes that are not UTF-8 (read as U+FFFD), e.g. %s",
                       stats.bad_utf8, ", ".join(repr(e["title"]) for e in bad_utf8_examples[:3]))
    for reason, items in skipped_examples.items():
        for item in items[:3]:
            logger.warning("skipped page (%s): %r %s", reason, item.get("title"),
                           item.get("error") or "")
    film_pages = transforms.assign_film_ids(
        transforms.film_rows(pages.select(*FILM_COLUMNS))).persist()
    return Read(pages, film_pages, film_pages.count(), readers, stats, skipped,
                skipped_examples, bad_utf8_examples)


def _warn_damaged(stats: ReadStats) -> None:
    damaged = stats.damaged
    pageless = [p for p in damaged if stats.per_file[p]["pages"] == 0]
    if pageless:
        logger.warning("inputs without a single <page> (not a MediaWiki pages export?): %s",
                       pageless)
    if len(pageless) < len(damaged):
        logger.warning("inputs without their closing </mediawiki> (truncated?): %s",
                       [p for p in damaged if p not in pageless])


# --- 2. redirects --------------------------------------------------------------------------
def redirects_step(read: Read, cfg: Config):
    """(every redirect with its status, persisted; counts by status). Every article and
    category redirect, chains followed to the final page; the page rows are then released."""
    from pyspark.sql import functions as F

    from spark_jobs import extract, transforms

    resolved = transforms.resolve_redirects(
        extract.redirect_edges(read.pages), cfg["links"]["max_redirect_hops"]).persist()
    status = {r["status"]: r["n"] for r in
              resolved.groupBy("status").agg(F.count("*").alias("n")).collect()}
    read.pages.unpersist()
    return resolved, status


# --- 3. links ------------------------------------------------------------------------------
@dataclass
class Links:
    """links_step's outcome: the three tables it builds (links and film_links persisted),
    how the link occurrences resolved, and the stop list used."""

    occurrences: object
    links: object
    film_links: object
    films: object
    via: dict[str, tuple[int, int]]
    stop_list: list[str]


def links_step(read: Read, resolved, cfg: Config) -> Links:
    """Links resolved through the redirects, counted, filtered, numbered; films completed
    with their infobox names resolved and their link counts."""
    from pyspark.sql import functions as F

    from spark_jobs import transforms

    link_cfg = cfg["links"]
    occurrences = transforms.link_occurrences(
        read.film_pages, resolved, link_cfg["drop_self_links"]).persist()
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
        usable, read.film_pages, link_cfg["min_film_count"], stop_list).persist()
    film_links = transforms.build_film_links(usable, links).persist()
    films = transforms.build_films(
        transforms.resolve_infobox_names(read.film_pages, resolved), film_links, usable)
    return Links(occurrences, links, film_links, films, via, stop_list)


# --- 4. write ------------------------------------------------------------------------------
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


def write_step(spark, cfg: Config, built: Links, redirects, n_films: int,
               table_path) -> tuple[dict, dict]:
    """Write every table to `table_path(name)`; (rows and columns by table, the pairs'
    budget as decided). film_pairs is made in its write thread."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from spark_jobs import transforms

    pair_cfg = cfg["pairs"]
    # A table's DataFrame, or a function making it in the table's write thread.
    tables: dict = {
        # One file each (films ~150k rows, links <= 10^6): a single-partition sort needs
        # no sampling job, unlike orderBy's range partitioning.
        "films": built.films.repartition(1).sortWithinPartitions("film_id"),
        "links": built.links.repartition(1).sortWithinPartitions("link_id"),
        "film_links": built.film_links.repartition("film_id")
        .sortWithinPartitions("film_id", "link_id"),
        "redirects": redirects.select("source", "target", "hops").orderBy("source"),
    }
    pairs: dict = {"enabled": pair_cfg["enabled"]}
    # Destroyed once the writes end: on the full dump ~120 MB (estimated) that a session
    # running the job again would otherwise keep.
    broadcasts: list = []

    def film_pairs_table():
        # Made in its write thread: the two small jobs that size and collect the pairs'
        # links run while the other tables are written, not before them.
        cap = _pair_cap(built.links, pair_cfg)
        # What the budget decided (the settings themselves are in the manifest's config).
        pairs.update(link_films_cap=cap.link_films_cap, lowered_by_budget=cap.lowered,
                     links_used=cap.links_used, pair_rows_before_aggregation=cap.pair_rows)
        link_films = spark.sparkContext.broadcast(
            _link_films(built.film_links, built.links, n_films, cap.link_films_cap))
        broadcasts.append(link_films)
        return transforms.build_film_pairs(built.film_links, link_films, pair_cfg["min_shared"])

    if pair_cfg["enabled"]:
        tables["film_pairs"] = film_pairs_table

    def write_table(name: str) -> dict:
        spark.sparkContext.setJobDescription(f"write {name}")  # this thread's jobs
        df = tables[name]() if callable(tables[name]) else tables[name]
        # Rows counted as they pass to the writer (no second job reading the files).
        observed = Observation(f"{name}_rows")
        counted = df.observe(observed, F.count(F.lit(1)).alias("rows"))
        counted.write.mode("overwrite").parquet(table_path(name))
        rows = observed.get["rows"]
        logger.info("wrote %s: %d rows", name, rows)
        return {"path": name, "rows": rows, "columns": [f.name for f in df.schema.fields]}

    # The writes are independent small jobs whose time is mostly the driver planning them:
    # in threads, one's tasks run while the next is planned. The pool is left only when
    # every write has ended, so a failed run's abort() never races a writer.
    try:
        with ThreadPoolExecutor(len(tables), thread_name_prefix="write") as pool:
            counts = dict(zip(tables, pool.map(write_table, tables), strict=True))
    finally:
        for b in broadcasts:
            try:
                b.destroy()
            except Exception as e:  # noqa: BLE001 - a cleanup never hides how the run ended
                logger.warning("could not destroy film_pairs' broadcast: %s", e)
    return counts, pairs


# --- the manifest --------------------------------------------------------------------------
def tables_manifest(spark, cfg: Config, dumps: list[DumpFile], run_id: str, read: Read,
                    redirect_status: dict, built: Links, counts: dict, pairs: dict,
                    clock: StepClock) -> dict:
    """manifest.json of the tables (docs/architecture.md): what the run read, skipped, wrote
    and spent."""
    from conf.manifest import build_manifest
    from spark_jobs.publish import SCHEMA_VERSION, TABLES_KIND
    from spark_jobs.wikitext import NOT_FILM

    stats, link_cfg, ingest = read.stats, cfg["links"], cfg["ingest"]
    return build_manifest(
        TABLES_KIND, SCHEMA_VERSION, cfg, manifest_id=run_id,
        inputs=[{"path": d.path, "size_bytes": d.size, "reader": read.readers[d.path],
                 **stats.per_file.get(file_key(d.path), {})} for d in dumps],
        damaged_inputs=stats.damaged,
        keep_readable=ingest["keep_readable"],
        spark={"version": spark.version, "master": spark.sparkContext.master,
               "default_parallelism": spark.sparkContext.defaultParallelism},
        tables=counts,
        pages={
            "read": stats.pages,
            "by_namespace": dict(sorted(stats.by_ns.items(),
                                        key=lambda kv: _namespace_order(kv[0]))),
            "redirects": stats.redirects,
            "film_candidates": stats.candidates,
            "films": read.n_films,
            "prefilter_rejected": stats.statuses.get(NOT_FILM, 0),
            "skipped": read.skipped,
            "skipped_examples": read.skipped_examples,
            # Title, redirect or parsed film text with U+FFFD (bytes that were not UTF-8).
            "bad_utf8": stats.bad_utf8,
            "bad_utf8_examples": read.bad_utf8_examples,
        },
        redirects={"pages": stats.redirects,
                   "article_and_category": sum(redirect_status.values()),
                   **{s: redirect_status.get(s, 0) for s in ("resolved", "loop", "too_long")}},
        links={
            "occurrences": sum(v[1] for v in built.via.values()),
            "film_targets": sum(v[0] for v in built.via.values()),
            "via_redirect": built.via.get("redirect", (0, 0))[0],
            "to_broken_redirects": built.via.get("broken", (0, 0))[0],
            "kept": counts["links"]["rows"],
            "min_film_count": link_cfg["min_film_count"],
            "stop_list_size": len(built.stop_list),
        },
        pairs=pairs,
        timings_s={k: round(v, 3) for k, v in clock.timings.items()},
        # CPU seconds of the driver's JVM per step: in local mode the tasks, the planning, code
        # generation, JIT compiling and garbage collection together (not the Python workers
        # of the read); on a cluster the driver's alone. None where the JVM cannot tell.
        jvm_cpu_s={k: None if v is None else round(v, 3) for k, v in clock.cpu.items()},
    )
