"""Extract: the dump's `<page>` records and a per-page projection computed in the JVM.

The dump is read as text records ending at `</page>`, split over many tasks: Hadoop's
splittable bzip2 codec for any file, or, for local multistream files, bz2_streams (the C
decoder, stream by stream; the bench's bare read 1.09-1.16x as fast). Every page is looked at
by JVM expressions only (title, namespace, id, redirect target, size, and a regex prefilter for
the film infobox); just the prefiltered film candidates are shipped to Python for the full
wikitext parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import bz2_streams
from spark_jobs.inputs import DumpFile, is_local
from spark_jobs.titles import template_key

# Page outcomes decided in the JVM (the Python parse adds its own, see wikitext.py).
TOO_LARGE = "too_large"
MALFORMED_RECORD = "malformed_record"

# How a file's records are read (ingest.reader, choose_readers).
STREAMS_READER = "bz2_streams"
HADOOP_READER = "hadoop"

# Namespaces whose redirects matter for links: articles and categories.
REDIRECT_NAMESPACES = (0, 14)

# At most this many characters from <page> are searched for <title>, <ns>, <id> and
# <redirect>, so a malformed record cannot make the regexes scan a whole page.
_HEAD_CHARS = 4096


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
    dumps = list(dumps)
    readers = readers if readers is not None else choose_readers(dumps, "auto")
    streamed = [d for d in dumps if readers[d.path] == STREAMS_READER]
    hadoop = [d.path for d in dumps if readers[d.path] == HADOOP_READER]
    frames = []
    if hadoop:
        frames.append(
            spark.read.option("lineSep", "</page>")
            .text(hadoop)
            .select(F.col("value"), F.col("_metadata.file_path").alias("file"))
        )
    if streamed:
        split = _split_bytes(spark, sum(d.size or 0 for d in dumps))
        ranges = [r for d in streamed
                  for r in bz2_streams.plan_ranges(d.path, d.size, split, keep_readable)]
        frames.append(bz2_streams.read_stream_records(spark, ranges))
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


def prefilter_patterns(infobox_names: Iterable[str]) -> list[str]:
    r"""Java regexes such that every page holding one of the infoboxes matches one of them (a
    superset: the full parse decides). One pattern per distinct first word of the names.

    MediaWiki matches a template name with its first letter in either case and the rest
    exactly, `_` and runs of spaces as one space (titles.template_key). So a pattern is the
    first word without its first letter, then the other words: `nfobox[\s_]+(?:film|movie)`.
    Starting with a literal of 4+ characters lets Java's regex skip through the page
    (Boyer-Moore) instead of trying a match at every character as a pattern starting with
    `\{\{` must: 1.4 s against 3.0-5.9 s of CPU for 337 MB of XML on one core (README
    "Benchmarks -> Ingestion"); the regex was the costliest expression of the read.
    Neither `{{` nor the first letter is checked: a page naming the template in prose passes
    and the parse rejects it (counted as prefilter_rejected).
    """
    groups: dict[str, set[str]] = {}
    for name in infobox_names:
        words = template_key(name).split(" ")
        if not words[0]:
            continue
        rest = r"[\s_]+".join(re.escape(w) for w in words[1:])
        groups.setdefault(words[0][1:], set()).add(r"[\s_]+" + rest if rest else "")
    return [
        re.escape(literal) + "(?:" + "|".join(sorted(tails, reverse=True)) + r")(?![\w])"
        for literal, tails in sorted(groups.items())
    ]


def prefilter(value: Column, infobox_names: Iterable[str]) -> Column:
    """True where `value` may hold one of the infoboxes (see prefilter_patterns)."""
    patterns = prefilter_patterns(infobox_names)
    if not patterns:
        return F.lit(False)
    match = value.rlike(patterns[0])
    for pattern in patterns[1:]:
        match = match | value.rlike(pattern)
    return match


def xml_unescape(col: Column) -> Column:
    """Undo the escaping MediaWiki's exporter applies to attribute and element text."""
    for entity, char in (("&quot;", '"'), ("&#039;", "'"), ("&#39;", "'"), ("&lt;", "<"),
                         ("&gt;", ">"), ("&amp;", "&")):  # &amp; last
        col = F.replace(col, F.lit(entity), F.lit(char))
    return col


def page_projection(
    records: DataFrame, infobox_names: Iterable[str], max_page_bytes: int
) -> DataFrame:
    """records(value, file) -> pages: one row per record, computed without Python.

    Output columns: file, is_page, has_trailer, page_id, ns, title, redirect_to, bytes,
    jvm_status (too_large | malformed_record | null), is_candidate, record (the XML of
    film candidates only, else null).
    """
    value = F.col("value")
    start = F.instr(value, "<page>")
    # MediaWiki writes <title>, <ns>, <id> and <redirect> before <revision>: the head ends
    # there (a byte search), so the regexes below read ~200 bytes a page instead of 4 KB.
    # The char limit bounds them on malformed records that have no <revision>.
    before_revision = F.substring_index(value, "<revision>", 1)
    head = F.substring(
        before_revision, F.instr(before_revision, "<page>"), F.lit(_HEAD_CHARS)
    )
    title = xml_unescape(F.regexp_extract(head, r"<title>([^<]*)</title>", 1))
    ns = F.regexp_extract(head, r"<ns>(-?\d+)</ns>", 1)
    page_id = F.regexp_extract(head, r"</ns>\s*<id>(\d+)</id>", 1)
    redirect = xml_unescape(F.regexp_extract(head, r"<redirect\s+title=\"([^\"]*)\"", 1))
    # Only the record after the last </page> of a file (no <page> in it) can hold the
    # closing tag: a CASE skips scanning every page for it.
    pages = records.select(
        "file",
        (start > 0).alias("is_page"),
        F.when(start == 0, value.contains("</mediawiki>"))
        .otherwise(F.lit(False)).alias("has_trailer"),
        F.when(page_id != "", page_id.cast("bigint")).alias("page_id"),
        F.when(ns != "", ns.cast("int")).alias("ns"),
        F.when(title != "", title).alias("title"),
        F.when(redirect != "", redirect).alias("redirect_to"),
        F.octet_length(value).alias("bytes"),
        value,
    )
    malformed = F.col("title").isNull() | F.col("ns").isNull() | F.col("page_id").isNull()
    jvm_status = (
        F.when(~F.col("is_page"), F.lit(None))
        .when(malformed, F.lit(MALFORMED_RECORD))
        .when(F.col("bytes") > max_page_bytes, F.lit(TOO_LARGE))
    )
    # The regex scans the whole page, so it runs last (a CASE, as AND does not promise to
    # short-circuit): redirects, other namespaces and skipped pages are never scanned.
    candidate = F.when(
        F.col("is_page") & jvm_status.isNull() & (F.col("ns") == 0) & F.col("redirect_to").isNull(),
        prefilter(F.col("value"), infobox_names),
    ).otherwise(F.lit(False))
    # Two selects so that `record` reads the computed is_candidate instead of repeating the
    # regex expression.
    judged = pages.select(
        "file", "is_page", "has_trailer", "page_id", "ns", "title", "redirect_to", "bytes",
        jvm_status.alias("jvm_status"), candidate.alias("is_candidate"), "value",
    )
    return judged.select(
        *[c for c in judged.columns if c != "value"],
        F.when(F.col("is_candidate"), F.col("value")).alias("record"),
    )


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
            & F.col("jvm_status").isNull()
            & F.col("redirect_to").isNotNull()
            & F.col("ns").isin(*REDIRECT_NAMESPACES)
        )
        .select(F.col("title").alias("source"), target.alias("target"))
        .filter(F.col("target") != "")
        .groupBy("source")
        .agg(F.min("target").alias("target"))
    )
