"""pages.py: every record's page row, the prefilter, and the parse of candidates (no Spark)."""

import re

import pyarrow as pa
import pytest

from conf import load_config
from sample_dump.dump import page_xml
from spark_jobs.pages import (
    MALFORMED_RECORD,
    PAGE_SCHEMA,
    TOO_LARGE,
    PageReader,
    PageSettings,
    compile_prefilter,
    page_batches,
    prefilter_patterns,
    record_batches_to_pages,
)
from spark_jobs.wikitext import FILM, MALFORMED_XML, NOT_FILM

SETTINGS = PageSettings(("Infobox film", "Infobox movie"), True, 10.0, 10_000)
FILM_TEXT = "{{Infobox film\n| director = [[Ann Lee]]\n| released = 1999\n}}\n[[Space]] [[Space]]"


def record(title: str, page_id: int, text: str, ns: int = 0, redirect: str | None = None) -> bytes:
    """A record as the readers hand it over: the page XML without its closing </page>."""
    return page_xml(title, ns, page_id, text, redirect).rsplit("</page>", 1)[0].encode()


def row(value: bytes) -> dict:
    return PageReader(SETTINGS).row(value, "file:/d.xml")


def test_head_of_an_ordinary_page():
    got = row(record("AT&T & \"Bell\" <Labs>", 7, "plain [[text]]"))
    assert got == {"file": "file:/d.xml", "is_page": True, "has_trailer": False, "page_id": 7,
                   "ns": 0, "title": 'AT&T & "Bell" <Labs>', "redirect_to": None,
                   "bytes": len(record("AT&T & \"Bell\" <Labs>", 7, "plain [[text]]")),
                   "is_candidate": False, "bad_utf8": False}


def test_bytes_that_are_not_utf8_are_marked():
    assert row(record("Caf\u00e9", 7, "x"))["bad_utf8"] is False
    assert row(record("Caf\u00e9", 7, "x").replace(b"\xc3\xa9", b"\xe9"))["bad_utf8"] is True
    film = row(record("Film", 10, FILM_TEXT).replace(b"[[Space]] [[Space]]", b"\xff [[Space]]"))
    assert film["status"] == FILM and film["bad_utf8"] is True
    assert row(record("Plain", 14, "x \xff y".replace("\xff", "\ufffd")))["bad_utf8"] is False


def test_redirects_and_other_namespaces_are_not_candidates():
    redirect = row(record("Alias", 8, "#REDIRECT [[Film]] {{Infobox film}}", redirect="Film & Co"))
    assert redirect["redirect_to"] == "Film & Co" and not redirect["is_candidate"]
    talk = row(record("Talk:Film", 9, "{{Infobox film}}", ns=1))
    assert talk["ns"] == 1 and not talk["is_candidate"] and "status" not in talk


def test_candidates_are_parsed_where_they_are_read():
    film = row(record("Film", 10, FILM_TEXT))
    assert film["is_candidate"] and film["status"] == FILM and film["page_id"] == 10
    assert film["links"] == [{"target": "Ann Lee", "count": 1}, {"target": "Space", "count": 2}]
    assert film["director"] == ["Ann Lee"] and film["year"] == 1999
    essay = row(record("Essay", 11, "How to write an Infobox film: see the manual."))
    assert essay["is_candidate"] and essay["status"] == NOT_FILM and "links" not in essay


def test_skipped_records():
    assert row(record("Huge", 12, FILM_TEXT + "x" * 20_000))["status"] == TOO_LARGE
    headless = row(b"  <page>\n    <ns>0</ns>\n    <revision><text>x</text></revision>\n  ")
    assert headless["status"] == MALFORMED_RECORD and headless["title"] is None
    broken = row(record("Broken", 13, FILM_TEXT).replace(b"[[Space]]", b"<[[Space]]"))
    assert broken["status"] == MALFORMED_XML and broken["page_id"] == 13
    assert broken["title"] == "Broken" and broken["error"].startswith("ParseError")
    trailer = row(b"\n</mediawiki>\n")
    assert trailer == {"file": "file:/d.xml", "is_page": False, "has_trailer": True, "bytes": 14}


def test_batches_follow_the_schema():
    values = [record("Film", 10, FILM_TEXT), record("Plain", 14, "x"), b"\n</mediawiki>\n"]
    (streamed,) = page_batches(values, "file:/d.xml", SETTINGS)
    records = pa.RecordBatch.from_pydict(
        {"value": [v.decode() for v in values], "file": ["file:/d.xml"] * 3}
    )
    (mapped,) = record_batches_to_pages(iter([records]), SETTINGS)
    assert streamed.schema == mapped.schema == PAGE_SCHEMA
    assert streamed.to_pylist() == mapped.to_pylist()
    assert [r["status"] for r in streamed.to_pylist()] == [FILM, None, None]


@pytest.mark.parametrize(
    "text, matches",
    [("{{Infobox film", True), ("{{ infobox_Film\n", True), ("{{Template:Infobox  movie|", True),
     ("{{Infobox film/doc}}", True), ("{{Infobox filmmaker", False), ("{{Infobox book", False),
     ("{{Infobox television", False), ("{{infobox\tmovie}}", True),
     # After the first letter MediaWiki compares exactly: "Infobox FILM" is another template.
     ("{{Infobox FILM", False), ("{{INFOBOX film", False),
     ("{{Film infobox}}", True), ("{{film_infobox|", True), ("{{Film infoboxes", False),
     ("{{Infobox film\u00e9", True)],  # \w is ASCII in a bytes regex; the parse decides
)
def test_prefilter(text, matches):
    # The defaults ("Infobox film", "Infobox Film", "Infobox movie", "Infobox Movie") and one
    # configured with its namespace and a short first word.
    names = [*load_config()["ingest"]["infobox_names"], "Template:Film infobox"]
    assert (compile_prefilter(names).search(text.encode()) is not None) is matches
    # The default names give one pattern starting with a literal of 4+ characters, which the
    # regex engine searches for instead of trying a match at every character.
    patterns = prefilter_patterns(load_config()["ingest"]["infobox_names"])
    assert len(patterns) == 1 and re.match(r"[A-Za-z]{4}", patterns[0])
