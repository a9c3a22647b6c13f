"""Multistream `.bz2` dumps read stream by stream with the C bzip2 decoder, in parallel tasks.

Wikimedia's `...-multistream.xml.bz2` is many independent bzip2 streams, each holding whole
`<page>` elements (100 a stream; the first stream is the `<siteinfo>` header, the last the
closing `</mediawiki>`). Python's `bz2` module (libbz2, C) decodes it faster per core than
Hadoop's pure-Java bzip2 codec that `spark.read.text` uses (docs/stack.md; the job's bare read
too: bench/README.md, "Ingestion"), so for these files the job reads its records here
instead, and turns them into page rows in the same task (pages.py): the page text stays in
this process.

Splitting works as Hadoop's does for lines: the file is cut into byte ranges, and a task reads
the streams that *start* in its range, the last one past the range's end. A stream start is
found by its magic (`BZh` + block size + the block magic `1AY&SY`); stream ends come from the
decoder. The records are the same as Hadoop's `</page>`-delimited ones: the text between
delimiters; the first carries the header, the last is the text after the last `</page>`
(except that the newline between two ranges, or the header when a range holds only the first
stream, comes as a record of its own, without a `<page>`: every byte is kept, in order).
That is exact only if every stream ends at a page boundary, as in Wikimedia's files: a task
checks it at both ends of its range and fails, naming the file, where it does not (files
recompressed by pbzip2, say); `-p ingest.reader="hadoop"` reads those.
"""

from __future__ import annotations

import bz2
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from conf.errors import WikifilmsError

# The name of the read's function, as Spark's plans show it (MapInArrow wikifilms_bz2_streams).
FORMAT = "wikifilms_bz2_streams"
SCHEMA = "value string, file string"

# A stream header: "BZh", the block size 1-9 (x 100 kB), then the first block's magic
# (the BCD digits of pi). An empty stream (no block) never holds pages and is not split at.
_STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
_DELIMITER = b"</page>"
# Compressed bytes read at a time: small enough that the decoder's unused tail stays small.
_CHUNK = 1 << 20
# A record batch handed to Spark holds about this many bytes of XML.
_BATCH_BYTES = 16 << 20
# A stream boundary must fall between pages: the text after it starts like this.
_PAGE_START = re.compile(rb"\s*(?:<page>|</mediawiki>)")


class StreamReadError(WikifilmsError, OSError):
    """A stream could not be decoded (truncated or corrupt file). The message is
    `FILE: cause`; parse_dump turns it into a DumpReadError that says what to do."""


class UnalignedStreamsError(StreamReadError):
    """The file's streams do not end between pages, so it cannot be split by streams."""


@dataclass(frozen=True)
class StreamRange:
    file: str  # as Spark's `_metadata.file_path` gives it: file:/abs/path
    path: str  # local path opened by the task
    start: int
    end: int
    keep_readable: bool


def local_file_uri(path: str) -> str:
    """`file:/abs/path`, as Spark's `_metadata.file_path` gives a local file."""
    return "file:" + Path(path).absolute().as_uri()[len("file://"):]


def is_multistream(path: str, probe_bytes: int = 4 << 20) -> bool:
    """Whether the file holds more than one bzip2 stream in its first `probe_bytes`.

    Wikimedia's multistream files have a stream every ~100 pages (tens of kB); a single-stream
    `.bz2` has one header at offset 0 (and the pattern inside compressed data by chance with a
    probability of ~2^-80 a byte). The answer is kept per file version: parse_dump asks before
    the JVM starts (its JIT choice) and again when it picks the readers.
    """
    stat = os.stat(path)
    return _probe_multistream(path, stat.st_size, stat.st_mtime_ns, probe_bytes)


@functools.lru_cache(maxsize=4096)
def _probe_multistream(path: str, size: int, mtime_ns: int, probe_bytes: int) -> bool:
    with open(path, "rb") as f:
        head = f.read(probe_bytes)
    starts = [m.start() for m in _STREAM_START.finditer(head)]
    return len(starts) >= 2 and starts[0] == 0


def plan_ranges(path: str, size: int, split_bytes: int, keep_readable: bool) -> list[StreamRange]:
    """Byte ranges of about `split_bytes` covering the file."""
    split_bytes = max(split_bytes, 1)
    file = local_file_uri(path)
    return [
        StreamRange(file, path, start, min(start + split_bytes, size), keep_readable)
        for start in range(0, size, split_bytes)
    ]


def _first_stream_at_or_after(f, offset: int) -> int | None:
    """File offset of the first stream header at or after `offset`, or None."""
    overlap = 9  # a header may straddle two reads
    pos = offset
    while True:
        f.seek(pos)
        block = f.read(_CHUNK)
        if not block:
            return None
        match = _STREAM_START.search(block)
        if match:
            return pos + match.start()
        if len(block) <= overlap:
            return None
        pos += len(block) - overlap


def _streams(f, r: StreamRange) -> Iterator[tuple[int, bytes]]:
    """(offset, decoded text) of each stream that starts in [r.start, r.end)."""
    start = _first_stream_at_or_after(f, r.start)
    if start is None or start >= r.end:
        return
    f.seek(start)
    offset, pending = start, b""
    while offset < r.end:
        decoder = bz2.BZ2Decompressor()
        parts: list[bytes] = []
        consumed = 0
        while not decoder.eof:
            data = pending or f.read(_CHUNK)
            pending = b""
            if not data:
                raise StreamReadError(
                    f"{r.file}: the bzip2 stream at byte {offset} ends before its "
                    "end-of-stream marker (the file is truncated)"
                )
            try:
                parts.append(decoder.decompress(data))
            except OSError as e:
                raise StreamReadError(
                    f"{r.file}: the bzip2 stream at byte {offset} is corrupt ({e})"
                ) from e
            consumed += len(data)
            if decoder.eof:
                pending = decoder.unused_data
                consumed -= len(pending)
        yield offset, b"".join(parts)
        offset += consumed
        if len(pending) < 3:
            pending += f.read(_CHUNK)
            if not pending:
                return  # end of file
        if not pending.startswith(b"BZh"):
            # Wikimedia's files hold nothing between or after their streams.
            raise StreamReadError(
                f"{r.file}: no bzip2 stream starts at byte {offset}, after the previous one "
                "(the file is corrupt)"
            )


def read_records(r: StreamRange) -> Iterator[bytes]:
    """The `</page>`-delimited records a task owns, as Hadoop's reader would give them."""
    tail = b""  # text after the last delimiter so far
    first = True
    with open(r.path, "rb") as f:
        streams = _streams(f, r)
        while True:
            try:
                item = next(streams, None)
            except StreamReadError:
                if not r.keep_readable:
                    raise
                # Like Hadoop's reader under ignoreCorruptFiles: keep the whole records
                # read before the damage, drop the one it cut.
                return
            if item is None:
                break
            offset, text = item
            if first and offset > 0 and not _PAGE_START.match(text):
                raise UnalignedStreamsError(_unaligned(r.file, offset))
            first = False
            pieces = (tail + text).split(_DELIMITER) if tail else text.split(_DELIMITER)
            tail = pieces.pop()
            yield from pieces
    if b"<page>" in tail:
        # The range ended inside a page: its streams do not end at page boundaries. (What
        # else may be left: whitespace between pages, the closing </mediawiki>, or the
        # <siteinfo> header when a range holds nothing but the file's first stream.)
        raise UnalignedStreamsError(_unaligned(r.file, r.end))
    if tail:
        yield tail


def _unaligned(file: str, offset: int) -> str:
    return (
        f"{file}: a bzip2 stream boundary near byte {offset} falls inside a page, so the "
        "file cannot be split by streams (not a Wikimedia multistream dump?). "
        'Read it with -p ingest.reader="hadoop"'
    )


def record_batches(r: StreamRange):
    """pyarrow RecordBatches (value, file) of the range's records."""
    batch: list[bytes] = []
    size = 0

    def flush():
        values = pa.array(batch, pa.binary())
        try:
            strings = values.cast(pa.string())
        except pa.ArrowInvalid:
            # Invalid UTF-8 somewhere: replace it, as a page with bad bytes must not stop the job.
            strings = pa.array([b.decode("utf-8", "replace") for b in batch], pa.string())
        return pa.RecordBatch.from_arrays(
            [strings, pa.array([r.file] * len(batch), pa.string())], names=["value", "file"]
        )

    for record in read_records(r):
        batch.append(record)
        size += len(record)
        if size >= _BATCH_BYTES:
            yield flush()
            batch, size = [], 0
    if batch:
        yield flush()


def _range_batches(
    ranges: list[StreamRange], settings, ids: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: the ids of `ranges` a task got -> their records' batches (SCHEMA), or
    with `settings` (pages.PageSettings) their page rows (pages.PAGE_SCHEMA)."""
    for batch in ids:
        for i in batch.column(0).to_pylist():
            r = ranges[i]
            if settings is None:
                yield from record_batches(r)
            else:
                from spark_jobs.pages import page_batches

                yield from page_batches(read_records(r), r.file, settings)


def read_stream_records(spark, ranges: list[StreamRange], settings=None):
    """DataFrame(value, file) of the records of `ranges`, one Spark task per range; with
    `settings` (pages.PageSettings), their page rows instead (pages.PAGE_DDL), computed in
    the task that decodes them.

    The tasks are a mapInArrow over `spark.range` with one id per partition, each id a range
    (cloudpickled with the function). A Spark Python data source did the same, but planning one
    costs Python processes of its own: fixed seconds a job (bench/README.md, "Choices in the
    code, measured").
    """
    if settings is None:
        schema = SCHEMA
    else:
        from spark_jobs.pages import PAGE_DDL

        schema = PAGE_DDL

    def wikifilms_bz2_streams(ids: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _range_batches(ranges, settings, ids)

    return spark.range(0, len(ranges), 1, max(1, len(ranges))).mapInArrow(
        wikifilms_bz2_streams, schema)
