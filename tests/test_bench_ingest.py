"""The ingestion bench's measurement of the read tasks' work without Spark (bench/ingest.py (e)):
it must do the job's whole read, every page once, whatever the number of processes."""

from __future__ import annotations

import bz2

from bench.ingest import task_work
from tests.conftest import write_dump
from tests.test_bz2_streams import random_pages


def test_task_work_finds_every_page_once_on_one_core_and_two(tmp_path):
    dump = write_dump(tmp_path / "enwiki-multistream.xml.bz2", random_pages(600),
                      pages_per_stream=7)
    xml_bytes = len(bz2.decompress(dump.read_bytes()))
    for cores in (1, 2):
        result = task_work(dump, xml_bytes, cores)
        assert result["pages"] == 600, cores
        assert result["seconds"] > 0 and result["xml_mb_per_s"] > 0
