"""Extract: the dump's `<page>` records and a per-page projection computed in the JVM.

The dump is read as text records ending at `</page>`, so Hadoop's splittable bzip2 codec
spreads one compressed file over many tasks. Every page is looked at by JVM expressions only
(title, namespace, id, redirect target, size, and a regex prefilter for the film infobox);
just the prefiltered film candidates are shipped to Python for the full wikitext parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

# Page outcomes decided in the JVM (the Python parse adds its own, see wikitext.py).
TOO_LARGE = "too_large"
MALFORMED_RECORD = "malformed_record"

# Namespaces whose redirects matter for links: articles and categories.
REDIRECT_NAMESPACES = (0, 14)

# Only the first bytes of a record hold <title>, <ns>, <id> and <redirect>; the regexes for
# them run on this head, not on the whole page.
_HEAD_CHARS = 4096


def read_page_records(spark: SparkSession, paths: Iterable[str]) -> DataFrame:
    """One row per `</page>`-terminated record: `value` (the XML text) and `file`.

    The first record of each file also carries the `<siteinfo>` header, and the closing
    `</mediawiki>` arrives as one extra record without a `<page>`.
    """
    return (
        spark.read.option("lineSep", "</page>")
        .text(list(paths))
        .select(F.col("value"), F.col("_metadata.file_path").alias("file"))
    )


def prefilter_pattern(infobox_names: Iterable[str]) -> str:
    """Java regex that every film page matches (a superset: the full parse decides).

    Case-insensitive, `_` or spaces between words, optional `Template:` prefix, so
    `{{ infobox_Film`, `{{Template:Infobox  movie` and `{{Infobox film` all pass.
    """
    alternatives = []
    for name in sorted(set(infobox_names)):
        words = re.split(r"[\s_]+", name.strip())
        alternatives.append(r"[\s_]+".join(re.escape(w) for w in words if w))
    # The flag is scoped after the literal "{{": with (?i) over the whole pattern, Java
    # tries a case-folding match at every character of every page; scoped, it first finds
    # "{{" by plain comparison. Same matches; the regex's cost over a plain read fell from
    # +7.6 s to +1.9 s on a 340 MB-XML sample (README "Ingestion" benchmark notes).
    return (r"\{\{(?i:[\s_]*(?:template[\s_]*:[\s_]*)?(?:" + "|".join(alternatives)
            + r"))(?![\w])")


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
    head = F.expr(f"substring(value, instr(value, '<page>'), {_HEAD_CHARS})")
    title = xml_unescape(F.regexp_extract(head, r"<title>([^<]*)</title>", 1))
    ns = F.regexp_extract(head, r"<ns>(-?\d+)</ns>", 1)
    page_id = F.regexp_extract(head, r"</ns>\s*<id>(\d+)</id>", 1)
    redirect = xml_unescape(F.regexp_extract(head, r"<redirect\s+title=\"([^\"]*)\"", 1))
    pages = records.select(
        "file",
        (start > 0).alias("is_page"),
        value.contains("</mediawiki>").alias("has_trailer"),
        F.when(page_id != "", page_id.cast("bigint")).alias("page_id"),
        F.when(ns != "", ns.cast("int")).alias("ns"),
        F.when(title != "", title).alias("title"),
        F.when(redirect != "", redirect).alias("redirect_to"),
        F.octet_length(value).alias("bytes"),
        value.rlike(prefilter_pattern(infobox_names)).alias("_prefilter"),
        value,
    )
    malformed = F.col("title").isNull() | F.col("ns").isNull() | F.col("page_id").isNull()
    jvm_status = (
        F.when(~F.col("is_page"), F.lit(None))
        .when(malformed, F.lit(MALFORMED_RECORD))
        .when(F.col("bytes") > max_page_bytes, F.lit(TOO_LARGE))
    )
    candidate = (
        F.col("is_page")
        & jvm_status.isNull()
        & (F.col("ns") == 0)
        & F.col("redirect_to").isNull()
        & F.col("_prefilter")
    )
    return pages.select(
        "file", "is_page", "has_trailer", "page_id", "ns", "title", "redirect_to", "bytes",
        jvm_status.alias("jvm_status"),
        candidate.alias("is_candidate"),
        F.when(candidate, F.col("value")).alias("record"),
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
