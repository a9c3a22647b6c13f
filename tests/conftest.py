"""Shared fixtures: one local SparkSession for the whole run, tiny dumps written inline."""

from __future__ import annotations

import bz2
import os
import sys
from pathlib import Path

import pytest

from conf import load_config
from sample_dump.dump import FOOTER, header, page_xml

SHARED_WIKI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wiki"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """The index's verified-files cache (index/verified.py) of the test run, not the user's."""
    os.environ["WIKIFILMS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def cfg():
    return load_config("test")


@pytest.fixture(scope="session")
def spark(cfg):
    """One local Spark session for every test that needs Spark (it takes ~8 s to start)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from spark_jobs.session import spark_session

    session = spark_session(cfg)
    yield session
    session.stop()


@pytest.fixture
def shared_wiki() -> Path:
    if not SHARED_WIKI.is_dir():
        pytest.skip(f"real Wikipedia fragments not available: {SHARED_WIKI} is absent")
    return SHARED_WIKI


def write_dump(path: Path, pages: list[tuple], compress: bool | None = None,
               pages_per_stream: int = 0) -> Path:
    """Write (title, ns, page_id, text[, redirect]) tuples as a MediaWiki export.

    pages_per_stream > 0 writes a multistream .bz2 as Wikimedia does: the header, then
    streams of that many whole pages, then the footer, each its own bzip2 stream.
    """
    if pages_per_stream:
        groups = [pages[i : i + pages_per_stream] for i in range(0, len(pages), pages_per_stream)]
        texts = [header(), *("".join(page_xml(*p) for p in g) for g in groups), FOOTER]
        path.write_bytes(b"".join(bz2.compress(t.encode("utf-8"), 9) for t in texts))
        return path
    xml = header() + "".join(page_xml(*p) for p in pages) + FOOTER
    data = xml.encode("utf-8")
    if compress if compress is not None else path.suffix == ".bz2":
        data = bz2.compress(data, 9)
    path.write_bytes(data)
    return path
