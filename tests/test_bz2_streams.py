"""The multistream reader (C bzip2 decoder) against Hadoop's reader, and its failure modes."""

from __future__ import annotations

import bz2
import random
import re
import string
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conf import load_config
from sample_dump.dump import FOOTER, header, page_xml
from spark_jobs import bz2_streams
from spark_jobs.extract import choose_readers, read_page_records, read_pages
from spark_jobs.ingest_steps import DumpReadError
from spark_jobs.inputs import resolve_local
from spark_jobs.pages import PageSettings
from spark_jobs.session import apply_job_settings
from tests.conftest import write_dump
from tests.test_parse_dump import job


def random_pages(n: int, seed: int = 5) -> list[tuple]:
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    return [(f"Page {i}", 0, 1000 + i, " ".join(rng.choices(words, k=rng.randint(20, 300))))
            for i in range(n)]


@pytest.fixture(scope="module")
def multistream(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ms") / "enwiki-multistream.xml.bz2"
    return write_dump(path, random_pages(3000), pages_per_stream=7)


@pytest.fixture
def small_splits(spark):
    apply_job_settings(spark, load_config("test", ["spark.max_partition_bytes=32768"]))
    yield
    apply_job_settings(spark, load_config("test"))


def test_multistream_is_told_from_single_stream(multistream, tmp_path):
    single = write_dump(tmp_path / "single.xml.bz2", random_pages(50))
    assert bz2_streams.is_multistream(str(multistream))
    assert not bz2_streams.is_multistream(str(single))


@pytest.mark.parametrize("split_bytes", [50, 700, 5_000, 60_000, 10**9])
def test_ranges_give_every_record_once(multistream, split_bytes):
    """Without Spark: the records of all ranges, at split sizes from smaller than one stream
    to the whole file, are the file's `</page>`-delimited records."""
    xml = bz2.decompress(multistream.read_bytes())
    expected = xml.split(b"</page>")
    ranges = bz2_streams.plan_ranges(str(multistream), multistream.stat().st_size, split_bytes,
                                     keep_readable=False)
    got = [record for r in ranges for record in bz2_streams.read_records(r)]
    # Each page once, in order; the bytes between pages (newlines, and the header when a range
    # holds only the first stream) may come as records of their own, but none is lost.
    pages = lambda records: [x[x.index(b"<page>"):] for x in records if b"<page>" in x]  # noqa: E731
    assert pages(got) == pages(expected) and len(pages(got)) == 3000
    assert b"".join(got) == b"".join(expected)


def test_stream_records_are_hadoops_records(spark, multistream, small_splits):
    """Cut into ~32 KB ranges: every page once, the same text and bytes as Hadoop's reader."""
    dumps = resolve_local([str(multistream)])
    ours = read_page_records(spark, dumps, choose_readers(dumps, "auto"))
    theirs = read_page_records(spark, dumps, choose_readers(dumps, "hadoop"))
    assert bz2_streams.FORMAT in ours._jdf.queryExecution().optimizedPlan().toString()
    assert bz2_streams.FORMAT not in theirs._jdf.queryExecution().optimizedPlan().toString()
    assert ours.rdd.getNumPartitions() >= 16

    def pages(df):
        rows = df.collect()
        return sorted(r.value.strip() for r in rows if "<page>" in r.value), rows

    our_pages, our_rows = pages(ours)
    their_pages, their_rows = pages(theirs)
    assert len(our_pages) == 3000
    assert our_pages == their_pages
    assert {r.file for r in our_rows} == {r.file for r in their_rows}
    # Same bytes in all: the only difference is where the newline between two ranges goes.
    size = lambda rows: sum(len(r.value.encode()) for r in rows)  # noqa: E731
    assert size(our_rows) == size(their_rows)
    for rows in (our_rows, their_rows):
        assert [r.value.strip() for r in rows if "</mediawiki>" in r.value] == ["</mediawiki>"]


def test_page_rows_are_the_same_with_either_reader(spark, multistream, small_splits):
    """The page rows computed inside the stream reader's tasks are those of the mapInArrow
    after Hadoop's reader: one per page, same head, status and file, same bytes in all."""
    dumps = resolve_local([str(multistream)])
    settings = PageSettings.from_config(load_config("test"))

    def page_rows(reader):
        rows = [r.asDict() for r in read_pages(spark, dumps, settings,
                                                choose_readers(dumps, reader)).collect()]
        total = sum(r["bytes"] for r in rows)
        return sorted((r for r in rows if r["is_page"]), key=lambda r: r["page_id"]), total

    (ours, our_bytes), (theirs, their_bytes) = page_rows("auto"), page_rows("hadoop")
    assert len(ours) == 3000 and our_bytes == their_bytes
    # A page after a range boundary may differ by the newline before it (a record of its
    # own in the stream reader, see bz2_streams).
    assert all(abs(a.pop("bytes") - b.pop("bytes")) <= 1 for a, b in zip(ours, theirs, strict=True))
    assert ours == theirs
    assert ours[0]["title"] == "Page 0" and ours[0]["ns"] == 0 and ours[0]["status"] is None


@pytest.mark.slow
def test_job_tables_are_the_same_with_either_reader(spark, tmp_path):
    pages = [(f"Film {i}", 0, 10 + i,
              "{{Infobox film\n| director = [[Ann Lee]]\n}}\n"
              + " ".join(f"[[Topic {(i * 7 + k) % 40}]]" for k in range(12)))
             for i in range(60)]
    pages += [(f"Topic {k}", 0, 500 + k, "x") for k in range(40)]
    pages += [(f"Alias {k}", 0, 600 + k, f"#REDIRECT [[Topic {k}]]", f"Topic {k}")
              for k in range(40)]
    dump = write_dump(tmp_path / "enwiki-multistream.xml.bz2", pages, pages_per_stream=3)
    split = "spark.max_partition_bytes=4096"
    a = job(spark, [dump], tmp_path / "a", split)
    b = job(spark, [dump], tmp_path / "b", split, 'ingest.reader="hadoop"')
    assert a["pages"] == b["pages"] and a["pages"]["films"] == 60
    assert [i.pop("reader") for i in a["inputs"]] == ["bz2_streams"]
    assert [i.pop("reader") for i in b["inputs"]] == ["hadoop"]
    assert a["inputs"] == b["inputs"]  # the same bytes and pages per file
    for name in ("films", "links", "film_links", "film_pairs", "redirects"):
        assert pq.read_table(tmp_path / "a" / name).to_pylist() == \
            pq.read_table(tmp_path / "b" / name).to_pylist(), name


def test_truncated_multistream_stops_with_the_file_name(spark, multistream, tmp_path):
    data = multistream.read_bytes()
    truncated = tmp_path / "truncated-multistream.xml.bz2"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DumpReadError, match="truncated-multistream.xml.bz2.*download it again"):
        job(spark, [truncated], tmp_path / "t")
    assert not (tmp_path / "t").exists()
    manifest = job(spark, [truncated], tmp_path / "t2", "ingest.keep_readable=true")
    assert manifest["damaged_inputs"] == [str(truncated)]
    assert 1000 < manifest["pages"]["read"] < 3000


def test_corrupt_stream_stops_with_the_file_name(spark, multistream, tmp_path):
    data = bytearray(multistream.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeros in the middle of one stream's blocks
    corrupt = tmp_path / "corrupt-multistream.xml.bz2"
    corrupt.write_bytes(bytes(data))
    message = r"corrupt-multistream.xml.bz2: the bzip2 stream at byte \d+ is corrupt"
    with pytest.raises(DumpReadError, match=message):
        job(spark, [corrupt], tmp_path / "t")


def test_streams_not_at_page_boundaries_fail_and_hadoop_reads_them(spark, tmp_path):
    """pbzip2 cuts its streams every N bytes, not between pages: the stream split would be
    wrong, so the job stops and says which reader does it."""
    pages = random_pages(400)
    xml = (header() + "".join(page_xml(*p) for p in pages) + FOOTER).encode()
    cut = 20_000
    dump = tmp_path / "pbzip2.xml.bz2"
    dump.write_bytes(b"".join(bz2.compress(xml[i : i + cut]) for i in range(0, len(xml), cut)))
    message = r'pbzip2.xml.bz2.*inside a page.*ingest.reader="hadoop"'
    with pytest.raises(DumpReadError, match=message):
        job(spark, [dump], tmp_path / "t", "spark.max_partition_bytes=32768")
    manifest = job(spark, [dump], tmp_path / "t2", "spark.max_partition_bytes=32768",
                   'ingest.reader="hadoop"')
    assert manifest["pages"]["read"] == 400


def test_real_pages_recompressed_as_multistream(spark, shared_wiki, tmp_path):
    """The real 206-page sample cut into streams of 10 pages as Wikimedia does (header stream,
    page streams, footer stream): the stream reader gives the job what Hadoop's reader gives
    it from the original file."""
    xml = bz2.decompress((shared_wiki / "enwiki-2016-sample-206pages.xml.bz2").read_bytes())
    first = xml.rindex(b"\n", 0, xml.index(b"<page>")) + 1
    ends = [m.end() for m in re.finditer(rb"</page>\n", xml)]
    cuts = [0, first, *ends[9::10], ends[-1], len(xml)]
    dump = tmp_path / "enwiki-206pages-multistream.xml.bz2"
    streams = [xml[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    dump.write_bytes(b"".join(bz2.compress(s) for s in streams))
    assert bz2_streams.is_multistream(str(dump))
    manifest = job(spark, [dump], tmp_path / "t", "spark.max_partition_bytes=65536")
    assert [i["reader"] for i in manifest["inputs"]] == ["bz2_streams"]
    assert manifest["inputs"][0]["xml_bytes"] == len(xml) - len(ends) * len(b"</page>")
    assert manifest["pages"]["read"] == 206 and manifest["pages"]["redirects"] == 100
    assert [f["title"] for f in pq.read_table(tmp_path / "t" / "films").to_pylist()] == ["Actrius"]


def test_jvm_is_c1_only_when_every_input_is_streamed(multistream, tmp_path):
    from spark_jobs.parse_dump import c1_only_jvm
    from spark_jobs.session import C1_ONLY, local_properties

    single = resolve_local([str(write_dump(tmp_path / "single.xml.bz2", random_pages(20)))])
    streamed = resolve_local([str(multistream)])
    auto = load_config()
    assert c1_only_jvm(auto, streamed)
    assert not c1_only_jvm(auto, streamed + single)  # Hadoop's Java decoder wants C2
    assert not c1_only_jvm(auto, streamed, remote_inputs=True)
    assert not c1_only_jvm(load_config(None, ['ingest.reader="hadoop"']), streamed)
    assert not c1_only_jvm(load_config(None, ['spark.jit="tiered"']), streamed)
    # A big input keeps the default JIT: C1's code is slower on data, the JIT's cost fixed.
    small_limit = f"spark.jit_c1_max_bytes={multistream.stat().st_size - 1}"
    assert not c1_only_jvm(load_config(None, [small_limit]), streamed)
    assert c1_only_jvm(load_config(None, ['spark.jit="c1"']), single)
    # The option joins the properties file's own Java options.
    props = tmp_path / "spark.conf"
    props.write_text("spark.driver.extraJavaOptions -Dwikifilms=1\nspark.ui.enabled false\n")
    cfg = load_config(None, [f'spark.properties_file="{props}"'])
    assert local_properties(cfg, [C1_ONLY]) == {
        "spark.driver.extraJavaOptions": f"-Dwikifilms=1 {C1_ONLY}", "spark.ui.enabled": "false"}
    assert local_properties(cfg)["spark.driver.extraJavaOptions"] == "-Dwikifilms=1"
