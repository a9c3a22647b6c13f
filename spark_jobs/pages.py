"""Page records -> page rows: what the job knows of every page, film pages fully parsed.

This is the read step's per-page work, done in the Python worker that holds the text. For
local multistream files bz2_streams decodes a range and calls `page_batches` on its records
in the same process, so a page's text never crosses into the JVM: only these rows do, ~100
bytes a page plus the parsed films. For Hadoop's reader (other files, remote URIs)
`record_batches_to_pages` is the body of a mapInArrow over its records.

Every record gets a cheap look: the page head (title, namespace, id, redirect target) by
regex on its first few hundred bytes, and, for namespace-0 pages that are not redirects, a
prefilter for the film infobox. Only the pages the prefilter passes get the full wikitext
parse (wikitext.parse_film_record), which decides whether the page is a film.

Why here and not in JVM expressions (as before): the text is already in Python for the
C-decoder reader, and moving it into the JVM (Arrow, UTF-8 checks, rows) to send the
candidates back for the parse was the costlier way (measured: bench/history/ingest.md).
One implementation serves both readers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import unescape

import pyarrow as pa

from spark_jobs.wikitext import FILM, LIST_FIELDS, infobox_keys, parse_film_record
from wikititles.titles import template_key

# Page outcomes decided before the parse (the parse adds its own, see wikitext.py).
TOO_LARGE = "too_large"
MALFORMED_RECORD = "malformed_record"

_LINK = pa.struct([("target", pa.string()), ("count", pa.int32())])
PAGE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("is_page", pa.bool_()),  # false: the text after a file's last </page>
        ("has_trailer", pa.bool_()),  # holds the closing </mediawiki>
        ("page_id", pa.int64()),
        ("ns", pa.int32()),
        ("title", pa.string()),
        ("redirect_to", pa.string()),
        ("bytes", pa.int64()),
        # null: an ordinary page; too_large | malformed_record: skipped unread; else the
        # parse's status (film, not_film, or why it failed) for a prefiltered candidate.
        ("status", pa.string()),
        ("is_candidate", pa.bool_()),
        ("error", pa.string()),
        # The title, redirect target or (for a parsed candidate) the text held U+FFFD: bytes
        # that were not UTF-8, replaced (or a U+FFFD in the page itself). Counted, kept.
        ("bad_utf8", pa.bool_()),
        ("links", pa.list_(_LINK)),
        ("image", pa.string()),
        *[(name, pa.list_(pa.string())) for name in LIST_FIELDS],
        ("year", pa.int32()),
        ("runtime_min", pa.int32()),
    ]
)
# The same schema as a Spark DDL string (the mapInArrow calls' output schema).
PAGE_DDL = ", ".join(
    [
        "file STRING", "is_page BOOLEAN", "has_trailer BOOLEAN", "page_id BIGINT", "ns INT",
        "title STRING", "redirect_to STRING", "bytes BIGINT", "status STRING",
        "is_candidate BOOLEAN", "error STRING", "bad_utf8 BOOLEAN",
        "links ARRAY<STRUCT<target: STRING, count: INT>>", "image STRING",
        *[f"{name} ARRAY<STRING>" for name in LIST_FIELDS],
        "year INT", "runtime_min INT",
    ]
)
# Columns a film row takes from the parse (transforms.film_rows and after).
FILM_COLUMNS = ("page_id", "title", "status", "links", "image", *LIST_FIELDS, "year", "runtime_min")

# At most this many bytes from <page> are searched for <title>, <ns>, <id> and <redirect>,
# so a malformed record cannot make the head regexes scan a whole page. MediaWiki writes
# them before <revision>, where the head ends: ~200 bytes a page.
_HEAD_BYTES = 4096
_TITLE = re.compile(rb"<title>([^<]*)</title>")
_NS = re.compile(rb"<ns>(-?\d+)</ns>")
_ID = re.compile(rb"</ns>\s*<id>(\d+)</id>")
_REDIRECT = re.compile(rb"<redirect\s+title=\"([^\"]*)\"")
# MediaWiki's exporter escapes these (xml.sax's unescape does &lt; &gt; and &amp;, last).
_ENTITIES = {"&quot;": '"', "&#039;": "'", "&#39;": "'"}
# Rows per Arrow batch: rows are small, except a film's links.
_BATCH_ROWS = 2048


@dataclass(frozen=True)
class PageSettings:
    """What the per-page work needs from the config (picklable, JSON-able for the reader)."""

    infobox_names: tuple[str, ...]
    keep_categories: bool
    parse_timeout_s: float
    max_page_bytes: int

    @classmethod
    def from_config(cls, cfg) -> PageSettings:
        ingest = cfg["ingest"]
        return cls(tuple(ingest["infobox_names"]), cfg["links"]["keep_categories"],
                   ingest["parse_timeout_s"], ingest["max_page_bytes"])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PageSettings:
        fields = json.loads(text)
        return cls(**{**fields, "infobox_names": tuple(fields["infobox_names"])})


def prefilter_patterns(infobox_names: Iterable[str]) -> list[str]:
    r"""Regexes such that every page holding one of the infoboxes matches one of them (a
    superset: the full parse decides). One pattern per distinct first word of the names.

    MediaWiki matches a template name with its first letter in either case and the rest
    exactly, `_` and runs of spaces as one space (titles.template_key). So a pattern is the
    first word without its first letter, then the other words: `nfobox[\s_]+(?:film|movie)`.
    Starting with a literal lets the regex engine search for it (a fast scan) instead of
    trying a match at every character as a pattern starting with `\{\{` must; the prefilter
    is the only thing that reads a whole page of every article. Neither `{{` nor the first
    letter is checked: a page naming the template in prose passes and the parse rejects it
    (counted as prefilter_rejected).
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


def compile_prefilter(infobox_names: Iterable[str]) -> re.Pattern[bytes] | None:
    r"""One bytes regex for the UTF-8 text (`\s`, `\w` are ASCII there, as in MediaWiki's
    template names' separators); None when no name is configured."""
    patterns = prefilter_patterns(infobox_names)
    return re.compile("|".join(patterns).encode()) if patterns else None


REPLACEMENT = "\ufffd"


def _text(raw: bytes | None) -> str | None:
    return unescape(raw.decode("utf-8", "replace"), _ENTITIES) if raw else None


class PageReader:
    """Turns records (`</page>`-terminated text, bytes) into PAGE_SCHEMA rows."""

    def __init__(self, settings: PageSettings) -> None:
        self.settings = settings
        self.keys = infobox_keys(settings.infobox_names)
        self.prefilter = compile_prefilter(settings.infobox_names)

    def row(self, value: bytes, file: str) -> dict:
        start = value.find(b"<page>")
        if start < 0:
            return {"file": file, "is_page": False, "has_trailer": b"</mediawiki>" in value,
                    "bytes": len(value)}
        head = value[start:start + _HEAD_BYTES]
        end = head.find(b"<revision>")
        head = head[:end] if end >= 0 else head
        title, ns, page_id, redirect = (
            (m.group(1) if (m := regex.search(head)) else None)
            for regex in (_TITLE, _NS, _ID, _REDIRECT)
        )
        row = {
            "file": file, "is_page": True, "has_trailer": False,
            "page_id": int(page_id) if page_id else None,
            "ns": int(ns) if ns else None,
            "title": _text(title), "redirect_to": _text(redirect), "bytes": len(value),
            "is_candidate": False,
        }
        row["bad_utf8"] = any(REPLACEMENT in (row[k] or "") for k in ("title", "redirect_to"))
        if row["title"] is None or row["ns"] is None or row["page_id"] is None:
            row["status"] = MALFORMED_RECORD
        elif row["bytes"] > self.settings.max_page_bytes:
            row["status"] = TOO_LARGE
        elif (row["ns"] == 0 and row["redirect_to"] is None and self.prefilter is not None
              and self.prefilter.search(value)):
            row["is_candidate"] = True
            self._parse(value, row)
        return row

    def _parse(self, value: bytes, row: dict) -> None:
        text = value.decode("utf-8", "replace")  # Hadoop's reader has replaced them already
        row["bad_utf8"] = row["bad_utf8"] or REPLACEMENT in text
        page = parse_film_record(
            text, self.keys,
            keep_categories=self.settings.keep_categories,
            timeout_s=self.settings.parse_timeout_s, fallback_title=row["title"],
        )
        row["status"], row["error"] = page.status, page.error
        if page.page_id is not None:
            row["page_id"], row["title"] = page.page_id, page.title
        if page.status == FILM:
            row["links"] = [{"target": t, "count": c} for t, c in sorted(page.links.items())]
            for name in ("image", *LIST_FIELDS, "year", "runtime_min"):
                row[name] = page.infobox.get(name, [] if name in LIST_FIELDS else None)


def page_batches(
    records: Iterable[bytes], file: str, settings: PageSettings
) -> Iterator[pa.RecordBatch]:
    """PAGE_SCHEMA batches of `records`, all from `file`."""
    reader = PageReader(settings)
    rows: list[dict] = []
    for value in records:
        rows.append(reader.row(value, file))
        if len(rows) >= _BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)


def record_batches_to_pages(
    batches: Iterator[pa.RecordBatch], settings: PageSettings
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: batches of (value string, file string) records -> PAGE_SCHEMA."""
    reader = PageReader(settings)
    for batch in batches:
        values = batch.column("value").cast(pa.binary()).to_pylist()
        files = batch.column("file").to_pylist()
        rows = [reader.row(value, file) for value, file in zip(values, files, strict=True)]
        yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)
