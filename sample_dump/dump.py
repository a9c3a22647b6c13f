"""Write a realistic MediaWiki XML export of a synthetic film world, deterministic for a seed.

    python -m sample_dump --out DIR [--films N] [--seed S]
        [--format xml|bz2|multistream|parts] [--parts K] [--articles-per-film A]

Formats, named like the real files:
  xml          enwiki-DATE-pages-articles.xml
  bz2          enwiki-DATE-pages-articles.xml.bz2              (one bzip2 stream)
  multistream  enwiki-DATE-pages-articles-multistream.xml.bz2  (one stream per 100 pages)
               + enwiki-DATE-pages-articles-multistream-index.txt.bz2 (offset:page_id:title)
  parts        enwiki-DATE-pages-articles1.xml-p1p1234.bz2 ... (complete documents)
The planted truth (films, their link targets, franchises, genres) goes to
enwiki-DATE-truth.json beside them.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from conf import ConfigError, cli
from sample_dump.pages import Page, plan_pages
from sample_dump.world import World

logger = logging.getLogger(__name__)

FORMATS = ("xml", "bz2", "multistream", "parts")
NAMESPACES = {
    -2: "Media", -1: "Special", 0: "", 1: "Talk", 2: "User", 3: "User talk", 4: "Wikipedia",
    5: "Wikipedia talk", 6: "File", 7: "File talk", 8: "MediaWiki", 9: "MediaWiki talk",
    10: "Template", 11: "Template talk", 12: "Help", 13: "Help talk", 14: "Category",
    15: "Category talk", 100: "Portal", 101: "Portal talk", 118: "Draft", 119: "Draft talk",
    828: "Module", 829: "Module talk",
}


def header(wiki: str = "enwiki") -> str:
    """`<mediawiki>` opening and `<siteinfo>`, as in the real export (schema 0.11)."""
    namespaces = "\n".join(
        f'      <namespace key="{k}" case="first-letter" />' if not name else
        f'      <namespace key="{k}" case="first-letter">{name}</namespace>'
        for k, name in NAMESPACES.items()
    )
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
        'http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="en">\n'
        "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n"
        f"    <dbname>{wiki}</dbname>\n"
        "    <base>https://en.wikipedia.org/wiki/Main_Page</base>\n"
        "    <generator>MediaWiki 1.45.0-wmf.1</generator>\n    <case>first-letter</case>\n"
        f"    <namespaces>\n{namespaces}\n    </namespaces>\n  </siteinfo>\n"
    )


FOOTER = "</mediawiki>\n"
# The exporter escapes quotes in element text too (htmlspecialchars).
_TEXT_ENTITIES = {'"': "&quot;"}


def _sha1_base36(data: bytes) -> str:
    n = int.from_bytes(hashlib.sha1(data).digest(), "big")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(31, "0")


def page_xml(title: str, ns: int, page_id: int, text: str, redirect: str | None = None,
             revision_id: int | None = None) -> str:
    """One `<page>` element exactly as the export writes it (text escaped, sha1, bytes)."""
    raw = text.encode("utf-8")
    rev = revision_id or page_id * 7 + 1000
    redirect_line = f"    <redirect title={quoteattr(redirect)} />\n" if redirect else ""
    stamp = f"2026-{1 + page_id % 12:02d}-{1 + page_id % 28:02d}T{page_id % 24:02d}:00:00Z"
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
        f"{redirect_line}    <revision>\n      <id>{rev}</id>\n"
        f"      <parentid>{rev - 1}</parentid>\n"
        f"      <timestamp>{stamp}</timestamp>\n"
        f"      <contributor>\n        <username>Editor{page_id % 97}</username>\n"
        f"        <id>{page_id % 9973}</id>\n      </contributor>\n"
        f"      <comment>copyedit</comment>\n      <origin>{rev}</origin>\n"
        "      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(raw)}" sha1="{_sha1_base36(raw)}" xml:space="preserve">'
        f"{escape(text, _TEXT_ENTITIES)}</text>\n      <sha1>{_sha1_base36(raw)}</sha1>\n"
        "    </revision>\n  </page>\n"
    )


def _compress(texts: list[str]) -> list[bytes]:
    return [bz2.compress(t.encode("utf-8"), 9) for t in texts]


def _compressed_streams(chunks: Iterable[str], workers: int) -> Iterator[bytes]:
    """bzip2-compress each chunk as its own stream, on `workers` processes, in order."""
    if workers <= 1:
        for chunk in chunks:
            yield bz2.compress(chunk.encode("utf-8"), 9)
        return
    batch: list[str] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = []
        for chunk in chunks:
            batch.append(chunk)
            if len(batch) >= 8:
                pending.append(pool.submit(_compress, batch))
                batch = []
            if len(pending) > 2 * workers:
                yield from pending.pop(0).result()
        if batch:
            pending.append(pool.submit(_compress, batch))
        for future in pending:
            yield from future.result()


def _atomic_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


class DumpWriter:
    """Writes numbered pages in one of FORMATS; files appear under their names when complete."""

    def __init__(self, out_dir: Path, fmt: str, wiki: str = "enwiki", date: str = "20261101",
                 pages_per_stream: int = 100, parts: int = 4, workers: int | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.out_dir, self.fmt, self.wiki, self.date = out_dir, fmt, wiki, date
        self.pages_per_stream, self.parts = pages_per_stream, parts
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.written: list[Path] = []
        self.xml_bytes = 0

    @property
    def prefix(self) -> str:
        return f"{self.wiki}-{self.date}-pages-articles"

    def write(self, pages: list[tuple[int, Page]]) -> list[Path]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.fmt == "xml":
            self._single(pages, self.out_dir / f"{self.prefix}.xml", compress=False)
        elif self.fmt == "bz2":
            self._single(pages, self.out_dir / f"{self.prefix}.xml.bz2", compress=True)
        elif self.fmt == "multistream":
            self._multistream(pages)
        else:
            size = -(-len(pages) // self.parts)
            for k in range(self.parts):
                chunk = pages[k * size : (k + 1) * size]
                if chunk:
                    name = f"{self.prefix}{k + 1}.xml-p{chunk[0][0]}p{chunk[-1][0]}.bz2"
                    self._single(chunk, self.out_dir / name, compress=True)
        return self.written

    def _xml(self, page_id: int, page: Page) -> str:
        return page_xml(page.title, page.ns, page_id, page.text, page.redirect)

    def _single(self, pages: list[tuple[int, Page]], path: Path, compress: bool) -> None:
        tmp = _atomic_path(path)
        compressor = bz2.BZ2Compressor(9) if compress else None
        with tmp.open("wb") as f:
            for piece in self._document(pages):
                data = piece.encode("utf-8")
                self.xml_bytes += len(data)
                f.write(compressor.compress(data) if compressor else data)
            if compressor:
                f.write(compressor.flush())
        tmp.replace(path)
        self.written.append(path)

    def _document(self, pages: list[tuple[int, Page]]) -> Iterator[str]:
        yield header(self.wiki)
        for page_id, page in pages:
            yield self._xml(page_id, page)
        yield FOOTER

    def _multistream(self, pages: list[tuple[int, Page]]) -> None:
        path = self.out_dir / f"{self.prefix}-multistream.xml.bz2"
        index_path = self.out_dir / f"{self.prefix}-multistream-index.txt.bz2"
        per = self.pages_per_stream
        groups = [pages[i : i + per] for i in range(0, len(pages), per)]

        def chunks() -> Iterator[str]:
            texts = [header(self.wiki)]
            texts += ("".join(self._xml(pid, page) for pid, page in group) for group in groups)
            texts.append(FOOTER)
            for text in texts:
                self.xml_bytes += len(text.encode("utf-8"))
                yield text

        tmp, index_lines, offset = _atomic_path(path), [], 0
        with tmp.open("wb") as f:
            for number, stream in enumerate(_compressed_streams(chunks(), self.workers)):
                if 1 <= number <= len(groups):
                    index_lines += [f"{offset}:{pid}:{page.title}\n"
                                    for pid, page in groups[number - 1]]
                f.write(stream)
                offset += len(stream)
        tmp.replace(path)
        index_tmp = _atomic_path(index_path)
        index_tmp.write_bytes(bz2.compress("".join(index_lines).encode("utf-8"), 9))
        index_tmp.replace(index_path)
        self.written += [path, index_path]


# Bumped when the same seed starts to give other pages (2: filler articles carry real
# markup, sample_dump.markup; 3: film articles hold ~50-400 links, median ~95, with
# supporting casts, accolades and a long tail of rare links); caches of generated dumps key on it.
GENERATOR_VERSION = 3


def generate(out_dir: Path, films: int, seed: int, fmt: str, sample_cfg: dict,
             parts: int = 4) -> dict:
    """Generate the world, write the dump and the truth; return a summary."""
    started = time.monotonic()
    world = World(films, seed)
    pages, truth = plan_pages(world, sample_cfg)
    numbered = [(10 + 3 * i + (i % 2), page) for i, page in enumerate(pages)]  # increasing, gaps
    writer = DumpWriter(out_dir, fmt, sample_cfg["wiki"], sample_cfg["date"],
                        sample_cfg["pages_per_stream"], parts)
    files = writer.write(numbered)
    truth_path = out_dir / f"{sample_cfg['wiki']}-{sample_cfg['date']}-truth.json"
    ids = {(p.ns, p.title): pid for pid, p in numbered}
    summary = {
        "seed": seed, "format": fmt, "generator_version": GENERATOR_VERSION,
        "files": [str(f) for f in files],
        "pages": len(pages), "films": len(truth.films),
        "redirects": sum(1 for p in pages if p.redirect), "articles": sum(
            1 for p in pages if p.ns == 0 and not p.redirect),
        "other_namespaces": sum(1 for p in pages if p.ns != 0),
        "seconds": round(time.monotonic() - started, 2),
    }
    truth_json = {"summary": summary, **truth.to_json(),
                  "film_page_ids": {t: ids[(0, t)] for t in truth.films}}
    tmp = _atomic_path(truth_path)
    tmp.write_text(json.dumps(truth_json, indent=1, ensure_ascii=False))
    tmp.replace(truth_path)
    summary["truth"] = str(truth_path)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(
        "python -m sample_dump",
        "Write a realistic MediaWiki XML export of a synthetic film world (deterministic for a "
        "seed) and its planted truth: xml, bz2, multistream (with its index) or partition "
        "files, named as Wikimedia names them.",
        "python -m sample_dump --out data/sample --films 2000 --format multistream")
    parser.add_argument("--out", required=True, type=Path, help="folder for the dump files")
    parser.add_argument("--films", type=int, help="number of film articles")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same dump)")
    parser.add_argument("--format", choices=FORMATS, default="multistream")
    parser.add_argument("--parts", type=int, default=4, help="files for --format parts")
    parser.add_argument("--articles-per-film", type=int, help="non-film articles per film")
    cli.add_config_arguments(parser)
    cli.add_logging_arguments(parser)
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    try:
        cfg = cli.load(args)
    except ConfigError as e:
        print(f"sample_dump: error: {e}", file=sys.stderr)
        return 2
    sample = dict(cfg["sample"])
    if args.articles_per_film is not None:
        sample["articles_per_film"] = args.articles_per_film
    films = args.films if args.films is not None else sample["films"]
    seed = args.seed if args.seed is not None else sample["seed"]
    if films < 1 or args.parts < 1:
        print("sample_dump: error: --films and --parts must be >= 1", file=sys.stderr)
        return 2
    summary = generate(args.out, films, seed, args.format, sample, args.parts)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
