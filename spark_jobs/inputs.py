"""Which files make up the dump: paths, globs and folders resolved before any work starts."""

from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from conf.errors import WikifilmsError

# File names of a dump's pages: `...pages-articles.xml.bz2`, `...-multistream.xml.bz2`, the
# partition files `...pages-articles1.xml-p1p41242.bz2`, plain `.xml`. Multistream index files
# (`...-index.txt.bz2`) and checksums are not pages.
_DUMP_FILE = re.compile(r"\.xml(?:\.bz2)?$|\.xml-p\d+p\d+(?:\.bz2)?$|\.bz2$")
_NOT_DUMP = re.compile(r"index|\.txt(?:\.bz2)?$|md5|sha1", re.I)
# Wikimedia's multistream index: `...-multistream-index.txt.bz2`, and per partition
# `...-multistream-index1.txt-p1p41242.bz2` (lines `offset:page_id:title`, no pages).
_MULTISTREAM_INDEX = re.compile(r"-index\d*\.txt(?:-p\d+p\d+)?\.bz2$")

# A pages-articles file of a Wikimedia dump run: the same pages come packed four ways (one
# file or partitions, each plain or multistream), and a file may also sit there decompressed.
_PAGES_ARTICLES = re.compile(
    r"^(?P<run>[a-z0-9_]+-(?:\d{8}|latest))-pages-articles(?P<multi>-multistream)?"
    r"(?P<part>\d+)?\.xml(?P<range>-p\d+p\d+)?(?:\.bz2)?$"
)

logger = logging.getLogger(__name__)


class InputError(WikifilmsError, ValueError):
    """A dump path that cannot be read; the message names it and says what to do."""


@dataclass(frozen=True)
class DumpFile:
    path: str  # as Spark will read it (a local absolute path or a Hadoop URI)
    size: int | None  # bytes, when known before Spark starts


def is_dump_file(name: str) -> bool:
    base = os.path.basename(name)
    return bool(_DUMP_FILE.search(base)) and not _NOT_DUMP.search(base)


def _check_named_file(given: str) -> None:
    """A file named on the command line is read whatever its name, except a multistream
    index, which sits beside the dump and is an easy slip of the tab key."""
    if _MULTISTREAM_INDEX.search(os.path.basename(_local_path(given))):
        raise InputError(
            f"{given} is a multistream index (stream offsets and titles), not pages: pass "
            "the ...-multistream.xml.bz2 file beside it"
        )


def _dump_files_of_glob(given: str, matches: list[str], is_dir) -> list[str]:
    """The matches of glob `given` to read: folders, and files named like dump pages. A glob
    such as `enwiki-*-multistream*.bz2` also matches the multistream index; reading it as a
    dump costs a pass over it and yields no pages, so what is left out is logged instead."""
    kept = [m for m in matches if is_dir(m) or is_dump_file(m)]
    left_out = [os.path.basename(m) for m in matches if m not in kept]
    if not kept:
        raise InputError(
            f"{given} matches no dump files, only {', '.join(left_out)} (multistream indexes, "
            "checksums): match the pages files (*.xml.bz2, *.xml-p…p….bz2, *.xml)"
        )
    if left_out:
        logger.info("left out %d file(s) matched by %s that are not dump pages: %s",
                    len(left_out), given, ", ".join(left_out))
    return kept


def is_local(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def _local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file:") else path


def resolve_local(paths: list[str]) -> list[DumpFile]:
    """Expand local files, globs and folders; fail, naming the path, if one matches nothing."""
    files: list[DumpFile] = []
    for given in paths:
        local = os.path.expanduser(_local_path(given))
        matches = sorted(glob.glob(local)) if glob.has_magic(local) else [local]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise InputError(
                f"dump not found: {given} (check the path; globs must match at least one file)"
            )
        if glob.has_magic(local):
            matches = _dump_files_of_glob(given, matches, os.path.isdir)
        elif not os.path.isdir(local):
            _check_named_file(given)
        for match in matches:
            if os.path.isdir(match):
                inside = sorted(
                    os.path.join(match, n) for n in os.listdir(match) if is_dump_file(n)
                )
                if not inside:
                    raise InputError(f"no dump files (*.xml, *.xml.bz2) in folder {match}")
                matches_in = inside
            else:
                matches_in = [match]
            for path in matches_in:
                if os.path.isdir(path):
                    continue
                if not os.access(path, os.R_OK):
                    raise InputError(f"dump not readable: {path} (check its permissions)")
                if os.path.getsize(path) == 0:
                    raise InputError(f"dump is empty: {path} (re-download it)")
                files.append(DumpFile(os.path.abspath(path), os.path.getsize(path)))
    return _checked_unique(files)


def resolve_hadoop(spark, paths: list[str]) -> list[DumpFile]:
    """Expand Hadoop URIs (hdfs://, s3a://, ...) with the cluster's FileSystem API."""
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    files: list[DumpFile] = []
    for given in paths:
        jpath = jvm.org.apache.hadoop.fs.Path(given)
        fs = jpath.getFileSystem(hadoop_conf)
        statuses = fs.globStatus(jpath)
        if not statuses:
            raise InputError(f"dump not found: {given} (check the URI and credentials)")
        if any(c in given for c in "*?[{"):  # Hadoop's glob syntax (braces too)
            by_name = {s.getPath().toString(): s for s in statuses}
            folders = {n for n, s in by_name.items() if s.isDirectory()}
            statuses = [by_name[n] for n in
                        _dump_files_of_glob(given, list(by_name), folders.__contains__)]
        elif not statuses[0].isDirectory():
            _check_named_file(given)
        for status in statuses:
            if status.isDirectory():
                for child in fs.listStatus(status.getPath()):
                    name = child.getPath().toString()
                    if child.isFile() and is_dump_file(name):
                        files.append(DumpFile(name, child.getLen()))
            else:
                files.append(DumpFile(status.getPath().toString(), status.getLen()))
    if not files:
        raise InputError(f"no dump files found in {', '.join(paths)}")
    return _checked_unique(files)


def _checked_unique(files: list[DumpFile]) -> list[DumpFile]:
    """`files` without repeats (a path matched by two globs), none holding pages twice."""
    seen: dict[str, DumpFile] = {}
    for f in files:
        seen.setdefault(f.path, f)
    unique = list(seen.values())
    check_pages_not_given_twice(unique)
    return unique


def check_pages_not_given_twice(files: list[DumpFile]) -> None:
    """Fail when one dump run's pages are given in two packagings (a folder holding both the
    multistream file and the partitions, or a file beside its decompressed copy), or one file
    twice under two file systems: the job would read every page twice (on the full dump, an
    hour or more) for the same tables. Each resolver checks its files; parse_dump checks the
    local and the Hadoop ones together."""
    packings: dict[str, dict[tuple, str]] = {}  # run -> piece of a packing -> file name
    for f in files:
        name = os.path.basename(f.path)
        m = _PAGES_ARTICLES.match(name)
        if not m:
            continue
        packing = (bool(m["multi"]), m["part"] is not None)
        piece = (packing, m["part"], m["range"])  # the same piece, compressed or not
        seen = packings.setdefault(m["run"], {})
        twice = seen.get(piece) or next(
            (other for (p, *_), other in seen.items() if p != packing), None)
        if twice:
            raise InputError(
                f"the pages of {m['run']} are given twice, as {twice} and as {name} (Wikimedia "
                "packs the same pages as one file or as partitions, plain or multistream): "
                "pass one packing, e.g. the ...-pages-articles-multistream.xml.bz2 alone"
            )
        seen[piece] = name
