"""Extract: the dump's `<page>` records, and the page rows computed from them (pages.py).

The dump is read as text records ending at `</page>`, split over many tasks: Hadoop's
splittable bzip2 codec for any file, or, for local multistream files, bz2_streams (the C
decoder, stream by stream; faster: bench/README.md, "Ingestion"). `read_pages` turns every
record into a page row in the Python worker that holds its text: inside the bz2_streams task
that decoded it, or in a mapInArrow after Hadoop's reader.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import bz2_streams
from spark_jobs.inputs import DumpFile, is_local
from spark_jobs.pages import PAGE_DDL, PageSettings, record_batches_to_pages

# How a file's records are read (ingest.reader, choose_readers).
STREAMS_READER = "bz2_streams"
HADOOP_READER = "hadoop"

# Namespaces whose redirects matter for links: articles and categories.
REDIRECT_NAMESPACES = (0, 14)


def read_page_records(
    spark: SparkSession, dumps: Iterable[DumpFile], readers: dict[str, str] | None = None,
    keep_readable: bool = False,
) -> DataFrame:
    """One row per `</page>`-terminated record: `value` (the XML text) and `file`.

    The first record of each file also carries the `<siteinfo>` header, and the closing
    `</mediawiki>` arrives as one extra record without a `<page>`. `readers` (choose_readers;
    default: its "auto") says which files bz2_streams reads (C decoder, same records) and which
    Hadoop's text reader does; both split at the sizes apply_job_settings gave Spark.
    """
    return _read(spark, list(dumps), readers, keep_readable, None)


def read_pages(
    spark: SparkSession, dumps: Iterable[DumpFile], settings: PageSettings,
    readers: dict[str, str] | None = None, keep_readable: bool = False,
) -> DataFrame:
    """One page row (pages.PAGE_DDL) per record of read_page_records: the page's head, its
    status, and for film candidates the parse. No page text reaches the JVM from bz2_streams'
    files; Hadoop's records pass through a mapInArrow."""
    return _read(spark, list(dumps), readers, keep_readable, settings)


def _read(spark: SparkSession, dumps: list[DumpFile], readers: dict[str, str] | None,
          keep_readable: bool, settings: PageSettings | None) -> DataFrame:
    readers = readers if readers is not None else choose_readers(dumps, "auto")
    streamed = [d for d in dumps if readers[d.path] == STREAMS_READER]
    hadoop = [d.path for d in dumps if readers[d.path] == HADOOP_READER]
    frames = []
    if hadoop:
        records = (
            spark.read.option("lineSep", "</page>")
            .text(hadoop)
            .select(F.col("value"), F.col("_metadata.file_path").alias("file"))
        )
        if settings is not None:
            records = records.mapInArrow(
                lambda batches: record_batches_to_pages(batches, settings), PAGE_DDL
            )
        frames.append(records)
    if streamed:
        split = _split_bytes(spark, sum(d.size or 0 for d in dumps))
        ranges = [r for d in streamed
                  for r in bz2_streams.plan_ranges(d.path, d.size, split, keep_readable)]
        frames.append(bz2_streams.read_stream_records(spark, ranges, settings))
    return functools.reduce(DataFrame.unionByName, frames)


def choose_readers(dumps: Iterable[DumpFile], reader: str) -> dict[str, str]:
    """path -> the reader of its records: STREAMS_READER for local multistream .bz2 files
    under reader "auto", else HADOOP_READER (the manifest lists it per input)."""
    def streamable(d: DumpFile) -> bool:
        return (reader == "auto" and d.size is not None and is_local(d.path)
                and d.path.endswith(".bz2") and bz2_streams.is_multistream(d.path))

    return {d.path: STREAMS_READER if streamable(d) else HADOOP_READER for d in dumps}


def _split_bytes(spark: SparkSession, total_bytes: int) -> int:
    """Spark's own split size for files of `total_bytes` (FilePartition.maxSplitBytes)."""
    conf = spark.conf
    max_bytes = int(conf.get("spark.sql.files.maxPartitionBytes").rstrip("b"))
    open_cost = int(conf.get("spark.sql.files.openCostInBytes").rstrip("b"))
    min_parts = int(conf.get("spark.sql.files.minPartitionNum", None)
                    or spark.sparkContext.defaultParallelism)
    return min(max_bytes, max(open_cost, total_bytes // min_parts))


def redirect_edges(pages: DataFrame) -> DataFrame:
    """pages -> (source, target): redirects in articles and categories, fragment dropped.

    Titles in `<title>` and `<redirect title=...>` are already canonical (MediaWiki writes
    them so); a `#Section` on the target is cut. A source listed twice keeps its first target
    in title order, so re-runs give the same table.
    """
    target = F.trim(F.regexp_replace(F.col("redirect_to"), r"#.*$", ""))
    return (
        pages.filter(
            F.col("is_page")
            & F.col("status").isNull()
            & F.col("redirect_to").isNotNull()
            & F.col("ns").isin(*REDIRECT_NAMESPACES)
        )
        .select(F.col("title").alias("source"), target.alias("target"))
        .filter(F.col("target") != "")
        .groupBy("source")
        .agg(F.min("target").alias("target"))
    )
