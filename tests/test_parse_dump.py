"""The ingestion job end to end on hand-written, generated and real dumps."""

from __future__ import annotations

import bz2
import json
import os
import random
import socket
import string
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conf import load_config
from conf.manifest import TABLES_KIND, TABLES_SCHEMA_VERSION
from conf.outputs import OutputFolderError
from sample_dump.dump import FOOTER, generate, header, page_xml
from spark_jobs.ingest_steps import DumpReadError
from spark_jobs.inputs import (
    DumpFile,
    InputError,
    check_pages_not_given_twice,
    resolve_hadoop,
    resolve_local,
)
from spark_jobs.parse_dump import main, run
from spark_jobs.publish import (
    CLAIM_SUFFIX,
    OutputBusyError,
    OutputPublisher,
    UnfinishedOutputError,
    read_manifest,
)
from tests.conftest import write_dump
from tests.manifests import check_manifest


def table(out: Path, name: str) -> list[dict]:
    return pq.read_table(out / name).to_pylist()


def job(spark, dump_paths, out: Path, *overrides: str, overwrite: bool = False) -> dict:
    cfg = load_config("test", list(overrides))
    return run(spark, cfg, resolve_local([str(p) for p in dump_paths]), str(out),
               overwrite=overwrite)


def film(title: str, links: str, director: str = "Ann Lee", extra: str = "") -> str:
    return (f"{{{{Infobox film\n| name = {title}\n| director = [[{director}]]\n"
            f"| released = {{{{Film date|1999|1|1}}}}\n}}}}\n'''{title}''' {links}\n{extra}")


HAND_PAGES = [
    ("Alpha", 0, 10, film("Alpha", "[[Space]] [[space]] [[Robots]] [[Beta (movie)|the sequel]] "
                                   "[[Gamma]] [[Loop A]]")),
    ("Beta", 0, 11, film("Beta", "[[Space#History]] [[Robot]] [[Alpha]] [[Gamma]] "
                                 "[[Category:1999 films]]")),
    ("Gamma", 0, 12, film("Gamma", "[[Space]] [[Robots]] [[Alpha]] [[Beta]] "
                                   "[[Category:1999_films]]", director="Bo Chan")),
    ("Delta", 0, 13, film("Delta", "[[Space]] [[Alpha]] [[Category:1999 films]] "
                                   "[[File:X.jpg|thumb|[[Robots]]]]")),
    ("Space", 0, 20, "Outer space. [[Alpha]]"),
    ("Robots", 0, 21, "Machines."),
    ("Robot", 0, 22, "#REDIRECT [[Robots]]", "Robots"),
    ("Beta (movie)", 0, 23, "#REDIRECT [[Beta]]", "Beta"),
    ("Loop A", 0, 24, "#REDIRECT [[Loop B]]", "Loop B"),
    ("Loop B", 0, 25, "#REDIRECT [[Loop A]]", "Loop A"),
    ("Talk:Alpha", 1, 30, film("Talk", "[[Space]]")),
    ("Template:Infobox film", 10, 31, "{{Infobox film/doc}} usage: {{Infobox film | name = }}"),
    ("Essay", 0, 32, "<!-- {{Infobox film}} --> [[Space]]"),
]


@pytest.fixture(scope="module")
def hand_tables(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hand")
    dump = write_dump(tmp / "hand.xml.bz2", HAND_PAGES)
    out = tmp / "tables"
    manifest = job(spark, [dump], out, "links.min_film_count=2", "pairs.min_shared=1")
    return out, manifest


def test_hand_written_films_and_ids(hand_tables):
    out, _ = hand_tables
    films = table(out, "films")
    assert [(f["film_id"], f["page_id"], f["title"]) for f in films] == [
        (0, 10, "Alpha"), (1, 11, "Beta"), (2, 12, "Gamma"), (3, 13, "Delta")
    ]
    assert films[2]["director"] == ["Bo Chan"] and films[0]["year"] == 1999


def test_hand_written_links_resolved_counted_and_numbered(hand_tables):
    out, _ = hand_tables
    links = {k["title"]: (k["film_count"], k["film_id"]) for k in table(out, "links")}
    # Robot -> Robots and Beta (movie) -> Beta through redirects; Loop A is broken and dropped;
    # [[Category:1999_films]] and [[Category:1999 films]] are one link; min_film_count=2.
    assert links == {
        "Space": (4, None), "Robots": (4, None), "Alpha": (3, 0), "Gamma": (2, 2),
        "Beta": (2, 1), "Category:1999 films": (3, None), "Ann Lee": (3, None),
    }
    ids = [k["link_id"] for k in table(out, "links")]
    assert sorted(ids) == list(range(len(ids)))
    title_of = {k["link_id"]: k["title"] for k in table(out, "links")}
    alpha = {title_of[r["link_id"]]: r["count"]
             for r in table(out, "film_links") if r["film_id"] == 0}
    assert alpha == {"Space": 2, "Robots": 1, "Beta": 1, "Gamma": 1, "Ann Lee": 1}


def test_hand_written_pairs_and_redirects(hand_tables):
    out, _ = hand_tables
    pairs = {(p["film_a"], p["film_b"]): p["shared"] for p in table(out, "film_pairs")}
    assert all(a < b for a, b in pairs)
    assert not any(f.nullable for f in pq.read_table(out / "film_pairs").schema)
    # Alpha and Beta share Space, Robots, Gamma, Ann Lee.
    assert pairs[(0, 1)] == 4
    redirects = {(r["source"], r["target"]) for r in table(out, "redirects")}
    assert redirects == {("Robot", "Robots"), ("Beta (movie)", "Beta")}


def test_pair_rows_budget_lowers_the_cap(hand_tables, spark, tmp_path):
    out, manifest = hand_tables
    links = table(out, "links")
    assert manifest["pairs"] == {
        "enabled": True, "link_films_cap": 1000, "lowered_by_budget": False,
        "links_used": len(links),
        "pair_rows_before_aggregation": sum(link["film_count"] * (link["film_count"] - 1) // 2
                                            for link in links),
    }
    # Links on 2 films (Gamma, Beta) make 2 pair rows, those on 3 (Alpha, Ann Lee, the
    # category) 9 more: a budget of 10 keeps only the first.
    dump = write_dump(tmp_path / "hand.xml.bz2", HAND_PAGES)
    budget = job(spark, [dump], tmp_path / "t", "links.min_film_count=2", "pairs.min_shared=1",
                 "pairs.max_pair_rows=10")
    assert budget["pairs"]["link_films_cap"] == 2 and budget["pairs"]["lowered_by_budget"]
    assert budget["pairs"]["pair_rows_before_aggregation"] == 2
    pairs = {(p["film_a"], p["film_b"]): p["shared"] for p in table(tmp_path / "t", "film_pairs")}
    assert pairs == {(0, 1): 1, (0, 2): 1}  # Alpha-Beta through Gamma, Alpha-Gamma through Beta


def test_hand_written_manifest_counts(hand_tables):
    out, manifest = hand_tables
    assert read_manifest(str(out))["id"] == manifest["id"]
    assert check_manifest(out, TABLES_KIND, TABLES_SCHEMA_VERSION) == manifest
    pages = manifest["pages"]
    assert pages["read"] == len(HAND_PAGES) and pages["films"] == 4 and pages["redirects"] == 4
    assert pages["film_candidates"] == 5 and pages["prefilter_rejected"] == 1  # the Essay
    assert pages["by_namespace"] == {"0": 11, "1": 1, "10": 1}
    assert manifest["redirects"]["loop"] == 2 and manifest["links"]["to_broken_redirects"] == 1
    assert manifest["tables"]["films"]["rows"] == 4
    assert manifest["inputs"][0]["complete"] is True and manifest["damaged_inputs"] == []
    # The JVM's CPU seconds beside the wall seconds, step by step (local mode: tasks included).
    cpu = manifest["jvm_cpu_s"]
    assert cpu.keys() == manifest["timings_s"].keys()
    assert all(v > 0 for v in cpu.values())
    # Each figure is rounded to 1 ms (half a unit either way), so the steps' sum may pass the
    # rounded total by that much (CI once saw 7.540000000000001 against 7.54).
    steps = [v for k, v in cpu.items() if k != "total"]
    assert sum(steps) <= cpu["total"] + 0.0005 * len(cpu)


def test_bad_pages_are_counted_and_skipped(spark, tmp_path):
    huge = film("Huge", "[[Space]] " + "x" * 6_000_000)
    pages = list(HAND_PAGES[:4])
    pages.append(("Huge", 0, 40, huge))
    xml = (tmp_path / "x.xml")
    write_dump(xml, pages, compress=False)
    # A page whose XML is broken inside the record (an unescaped < in its text).
    text = xml.read_text().replace(
        "</mediawiki>",
        "  <page>\n    <title>Broken</title>\n    <ns>0</ns>\n    <id>41</id>\n    <revision>"
        "<text>{{Infobox film}} a < b & c</text></revision>\n  </page>\n"
        "  <page>\n    <title>Headless</title>\n    <revision><text>x</text></revision>\n"
        "  </page>\n"
        "</mediawiki>",
    )
    xml.write_text(text)
    manifest = job(spark, [xml], tmp_path / "t")
    skipped = manifest["pages"]["skipped"]
    assert skipped == {"too_large": 1, "malformed_xml": 1, "malformed_record": 1}
    assert manifest["pages"]["films"] == 4
    examples = manifest["pages"]["skipped_examples"]
    assert examples["too_large"][0]["title"] == "Huge"
    assert examples["malformed_xml"][0]["title"] == "Broken"
    assert manifest["pages"]["bad_utf8"] == 0


def test_pages_with_bytes_that_are_not_utf8_are_counted(spark, tmp_path):
    """Read as U+FFFD (as MediaWiki's own readers do), never silently: the manifest counts
    them and names a few."""
    xml = write_dump(tmp_path / "x.xml", HAND_PAGES[:4], compress=False)
    data = xml.read_bytes().replace(b"<title>Beta</title>", b"<title>Beta \xff</title>")
    data = data.replace(b"[[space]] [[Robots]]", b"[[space]] \xc3( [[Robots]]", 1)
    xml.write_bytes(data)
    manifest = job(spark, [xml], tmp_path / "t")
    assert manifest["pages"]["bad_utf8"] == 2
    assert sorted(e["title"] for e in manifest["pages"]["bad_utf8_examples"]) == [
        "Alpha", "Beta \ufffd"]
    assert manifest["pages"]["films"] == 4


def test_every_page_read_once_with_tiny_splits(spark, tmp_path):
    """A multi-block .bz2 cut into ~32 KB splits: no page lost or read twice at a boundary."""
    rng = random.Random(5)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    pages = [(f"Page {i}", 0, 1000 + i, " ".join(rng.choices(words, k=rng.randint(20, 300))))
             for i in range(3000)]
    xml = header() + "".join(page_xml(*p) for p in pages) + FOOTER
    dump = tmp_path / "blocks.xml.bz2"
    dump.write_bytes(bz2.compress(xml.encode(), 1))  # 100 kB blocks: ~40 of them
    assert dump.stat().st_size > 16 * 32 * 1024
    from pyspark.sql import functions as F

    from spark_jobs.extract import read_page_records, read_pages
    from spark_jobs.pages import PageSettings
    from spark_jobs.session import apply_job_settings

    cfg = load_config("test", ["spark.max_partition_bytes=32768"])
    apply_job_settings(spark, cfg)
    try:
        dumps = resolve_local([str(dump)])
        assert read_page_records(spark, dumps).rdd.getNumPartitions() >= 8
        got = read_pages(spark, dumps, PageSettings.from_config(cfg)).filter("is_page").agg(
            F.count("*").alias("n"), F.countDistinct("page_id").alias("d"),
            F.sum("page_id").alias("s"),
        ).first()
    finally:
        apply_job_settings(spark, load_config("test"))
    assert (got["n"], got["d"], got["s"]) == (3000, 3000, sum(1000 + i for i in range(3000)))


@pytest.mark.slow
def test_generated_dump_matches_planted_truth(spark, tmp_path):
    summary = generate(tmp_path / "dump", 60, 11, "parts", dict(load_config("test")["sample"]),
                       parts=3)
    truth = json.loads(Path(summary["truth"]).read_text())
    out = tmp_path / "tables"
    manifest = job(spark, [str(tmp_path / "dump")], out, "spark.max_partition_bytes=65536")
    films = {f["title"]: f for f in table(out, "films")}
    assert set(films) == set(truth["films"])
    assert manifest["pages"]["read"] == summary["pages"]
    assert manifest["pages"]["redirects"] == summary["redirects"]
    assert set(truth["traps"]).isdisjoint(films)
    # Links of every film: the planted targets that made the min-count cut.
    kept = {k["link_id"]: k["title"] for k in table(out, "links")}
    counts: dict[str, int] = {}
    for f in truth["films"].values():
        for t in f["links"]:
            counts[t] = counts.get(t, 0) + 1
    by_film: dict[int, dict[str, int]] = {}
    for r in table(out, "film_links"):
        by_film.setdefault(r["film_id"], {})[kept[r["link_id"]]] = r["count"]
    for title, f in truth["films"].items():
        expected = {t: c for t, c in f["links"].items() if counts[t] >= 3 and t != title}
        assert by_film.get(films[title]["film_id"], {}) == expected, title
        assert films[title]["director"][0] == f["director"]
    # Re-running replaces the output (new id, same tables).
    first_run = sorted(tuple(r.values()) for r in table(out, "film_links"))
    again = job(spark, [str(tmp_path / "dump")], out, overwrite=True)
    assert again["id"] != manifest["id"] and read_manifest(str(out))["id"] == again["id"]
    assert sorted(tuple(r.values()) for r in table(out, "film_links")) == first_run
    assert not list(tmp_path.glob("tables.__*"))


def test_corrupt_bz2_stops_with_the_file_name(spark, tmp_path):
    good = write_dump(tmp_path / "good.xml.bz2",
                      [(f"P{i}", 0, i, "x " * 3000 + str(i)) for i in range(1, 400)])
    data = bytearray(good.read_bytes())
    truncated = tmp_path / "truncated.xml.bz2"
    truncated.write_bytes(bytes(data[: len(data) * 2 // 3]))
    with pytest.raises(DumpReadError, match="truncated.xml.bz2.*download it again"):
        job(spark, [truncated], tmp_path / "t")
    assert not (tmp_path / "t").exists()
    manifest = job(spark, [good, truncated], tmp_path / "t2", "ingest.keep_readable=true")
    assert manifest["damaged_inputs"] == [str(truncated)]
    assert 399 < manifest["pages"]["read"] < 2 * 399


def test_missing_or_empty_input_fails_before_spark(tmp_path, capsys):
    assert main(["--dump", str(tmp_path / "nope.xml.bz2"), "--out", str(tmp_path / "o")]) == 2
    assert "dump not found" in capsys.readouterr().err
    (tmp_path / "empty.xml").write_text("")
    with pytest.raises(InputError, match="empty"):
        resolve_local([str(tmp_path / "empty.xml")])
    assert main(["--dump", str(tmp_path / "empty.xml"), "--out", "o", "-p", "links.x=1"]) == 2


def test_globs_leave_out_multistream_indexes_and_a_named_index_is_refused(spark, tmp_path, caplog):
    """Wikimedia's folder holds the multistream index beside the pages; a glob such as
    `*.bz2` matches both, and the index read as a dump cost a pass and gave no pages."""
    names = ("enwiki-1-pages-articles-multistream.xml.bz2",
             "enwiki-1-pages-articles-multistream-index.txt.bz2",
             "enwiki-1-pages-articles-multistream-index1.txt-p1p41242.bz2", "my-dump.bin")
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    caplog.set_level("INFO", logger="spark_jobs.inputs")
    picked = resolve_local([str(tmp_path / "*.bz2")])
    assert [Path(d.path).name for d in picked] == [names[0]]
    assert "left out 2 file(s)" in caplog.text and names[1] in caplog.text
    for index in names[1:3]:
        with pytest.raises(InputError, match="is a multistream index.*multistream.xml.bz2"):
            resolve_local([str(tmp_path / index)])
    with pytest.raises(InputError, match="matches no dump files, only .*index.txt.bz2"):
        resolve_local([str(tmp_path / "*index*")])
    # Named outright, a file is read whatever its name; a folder keeps its dump files.
    assert [Path(d.path).name for d in resolve_local([str(tmp_path / "my-dump.bin")])] == [names[3]]
    assert [Path(d.path).name for d in resolve_local([str(tmp_path)])] == [names[0]]
    # The same through Hadoop's FileSystem API (hdfs://, s3a://; here file://).
    picked = resolve_hadoop(spark, [f"file://{tmp_path}/*.bz2"])
    assert [Path(d.path).name for d in picked] == [names[0]]
    with pytest.raises(InputError, match="is a multistream index"):
        resolve_hadoop(spark, [f"file://{tmp_path}/{names[1]}"])


@pytest.mark.parametrize("names", [
    ("enwiki-20261101-pages-articles-multistream.xml.bz2",
     "enwiki-20261101-pages-articles1.xml-p1p41242.bz2"),
    ("enwiki-20261101-pages-articles.xml.bz2", "enwiki-20261101-pages-articles.xml"),
    ("enwiki-20261101-pages-articles-multistream1.xml-p1p41242.bz2",
     "enwiki-20261101-pages-articles1.xml-p1p41242.bz2"),
])
def test_the_same_pages_in_two_packings_are_refused(tmp_path, names):
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InputError, match=r"pages of enwiki-20261101 are given twice.*pass one"):
        resolve_local([str(tmp_path)])


def test_a_local_and_a_remote_copy_of_the_same_pages_are_refused(spark, tmp_path, monkeypatch,
                                                                  capsys):
    name = "enwiki-20261101-pages-articles-multistream.xml.bz2"
    local = write_dump(tmp_path / name, HAND_PAGES)
    monkeypatch.setattr("spark_jobs.parse_dump.resolve_hadoop",
                        lambda spark, paths: [DumpFile(f"hdfs://nn/dumps/{name}", 1)])
    code = main(["--dump", str(local), f"hdfs://nn/dumps/{name}", "--out", str(tmp_path / "t"),
                 "--config", "test"])
    assert code == 2
    assert "pages of enwiki-20261101 are given twice" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_one_packing_of_a_run_and_other_runs_are_read():
    folder = [f"enwiki-20261101-pages-articles{n}.xml-p{a}p{b}.bz2"
              for n, a, b in ((1, 1, 41242), (2, 41243, 151573))]
    others = ["enwiki-20261001-pages-articles-multistream.xml.bz2",
              "frwiki-20261101-pages-articles-multistream.xml.bz2"]
    check_pages_not_given_twice([DumpFile(f"/d/{n}", 1) for n in folder + others])


def test_an_input_without_pages_is_named_apart_from_truncated_ones(spark, tmp_path, caplog):
    good = write_dump(tmp_path / "good.xml.bz2", [("P1", 0, 1, "text"), ("P2", 0, 2, "text")])
    offsets = tmp_path / "offsets.bz2"  # a file of the dump's folder that holds no pages
    offsets.write_bytes(bz2.compress(b"600:1:P1\n600:2:P2\n"))
    caplog.set_level("WARNING", logger="spark_jobs.parse_dump")
    manifest = job(spark, [good, offsets], tmp_path / "t")
    assert manifest["pages"]["read"] == 2
    assert f"without a single <page> (not a MediaWiki pages export?): ['{offsets}']" in caplog.text
    assert "truncated?" not in caplog.text


def _leftover(parent: Path, run_id: str, host: str, pid: int, age_s: float = 0.0) -> Path:
    """What a run writing `parent/tables` leaves beside it: staging folder and claim."""
    staging = parent / f"tables.__writing-{run_id}"
    (staging / "films").mkdir(parents=True)
    (staging / "films" / "part-0.parquet").write_bytes(b"half-written")
    claim = parent / f"tables.__writing-{run_id}{CLAIM_SUFFIX}"
    claim.write_text(json.dumps({"host": host, "pid": pid, "started": time.time() - age_s}))
    os.utime(claim, (time.time() - age_s,) * 2)
    return staging


def test_a_run_refuses_an_output_that_a_live_run_is_writing(spark, tmp_path):
    """Its cleanup of dead runs' leftovers would otherwise delete the live run's tables."""
    (tmp_path / "in").mkdir()
    dump = write_dump(tmp_path / "in" / "hand.xml.bz2", HAND_PAGES)
    out = tmp_path / "out"
    here = _leftover(out, "alive-here", socket.gethostname(), os.getpid())  # this process
    with pytest.raises(OutputBusyError, match=rf"process {os.getpid()} on .*Wait for it"):
        job(spark, [dump], out / "tables")
    assert (here / "films" / "part-0.parquet").exists()
    here.rename(out / "moved")
    (out / f"{here.name}{CLAIM_SUFFIX}").unlink()
    elsewhere = _leftover(out, "alive-there", "another-host", 1, age_s=60)  # renewed 60 s ago
    with pytest.raises(OutputBusyError, match="another-host, started .* renewed 60 s ago"):
        job(spark, [dump], out / "tables")
    assert elsewhere.exists() and not (out / "tables").exists()


def test_dead_runs_leftovers_are_removed_and_a_run_leaves_no_claim_or_broadcast(
        spark, tmp_path, monkeypatch):
    from pyspark.broadcast import Broadcast

    destroyed = []
    destroy = Broadcast.destroy
    monkeypatch.setattr(Broadcast, "destroy",
                        lambda b, *a, **kw: destroyed.append(b) or destroy(b, *a, **kw))
    (tmp_path / "in").mkdir()
    dump = write_dump(tmp_path / "in" / "hand.xml.bz2", HAND_PAGES)
    out = tmp_path / "out"
    ended = subprocess.Popen(["true"])
    ended.wait()
    _leftover(out, "ended-here", socket.gethostname(), ended.pid)  # its process has ended
    _leftover(out, "silent-there", "another-host", 1, age_s=3600)  # not renewed for an hour
    (out / "tables.__old-silent-there").mkdir()  # a commit cut short
    manifest = job(spark, [dump], out / "tables")
    assert sorted(p.name for p in out.iterdir()) == ["tables"]
    assert read_manifest(str(out / "tables"))["id"] == manifest["id"]
    assert len(destroyed) == 1  # film_pairs' broadcast links, not kept by the session


def test_the_claim_is_renewed_while_a_run_works_and_removed_when_it_fails(spark, tmp_path):
    publisher = OutputPublisher(spark, str(tmp_path / "tables"))
    claim = tmp_path / f"tables.__writing-{publisher.run_id}{CLAIM_SUFFIX}"
    with pytest.raises(RuntimeError, match="stage failed"), publisher.claimed(heartbeat_s=0.05):
        first = claim.stat().st_mtime_ns
        assert json.loads(claim.read_text())["pid"] == os.getpid()
        spark.range(3).write.parquet(publisher.table_path("films"))
        deadline = time.monotonic() + 10
        while claim.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert claim.stat().st_mtime_ns > first
        raise RuntimeError("stage failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # staging and claim removed


def test_a_failed_cleanup_does_not_hide_why_the_run_failed(spark, tmp_path, monkeypatch, caplog):
    publisher = OutputPublisher(spark, str(tmp_path / "tables"))

    def jvm_gone():
        raise OSError("connection refused")

    monkeypatch.setattr(publisher, "abort", jvm_gone)
    with pytest.raises(RuntimeError, match="stage failed"), publisher.claimed():
        raise RuntimeError("stage failed")
    assert "could not remove the unfinished output: connection refused" in caplog.text


def test_someone_elses_folder_or_the_inputs_folder_is_never_deleted(spark, tmp_path,
                                                                     monkeypatch, capsys):
    """--out naming a folder of other files, or `.` in the dump's folder: one line, exit 2,
    nothing deleted (the publish step used to move it aside and remove it)."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    dump = write_dump(dumps / "hand.xml.bz2", HAND_PAGES)
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for overwrite in ([], ["--overwrite"]):
        assert main(["--dump", str(dump), "--out", str(mine), *overwrite]) == 2
        assert "holds files, not a tables folder" in capsys.readouterr().err
    with pytest.raises(OutputFolderError, match="holds the input"):  # run(): remote outputs too
        job(spark, [dump], tmp_path)
    monkeypatch.chdir(dumps)
    assert main(["--dump", dump.name, "--out", ".", "--overwrite"]) == 2
    assert f"--out {dumps} is the current directory" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine" and dump.stat().st_size > 0


def test_tables_are_replaced_only_when_asked(spark, tmp_path):
    dump = write_dump(tmp_path / "hand.xml.bz2", HAND_PAGES)
    first = job(spark, [dump], tmp_path / "t")
    with pytest.raises(OutputFolderError, match="holds a tables folder already: pass "
                                                "--overwrite"):
        job(spark, [dump], tmp_path / "t")
    assert read_manifest(str(tmp_path / "t"))["id"] == first["id"]
    second = job(spark, [dump], tmp_path / "t", overwrite=True)
    assert read_manifest(str(tmp_path / "t"))["id"] == second["id"] != first["id"]


def test_files_put_at_the_output_while_a_run_works_are_not_replaced(spark, tmp_path):
    publisher = OutputPublisher(spark, str(tmp_path / "tables"), overwrite=True)
    with pytest.raises(OutputFolderError, match="holds files"), publisher.claimed():
        spark.range(3).write.parquet(publisher.table_path("films"))
        (tmp_path / "tables").mkdir()
        (tmp_path / "tables" / "report.docx").write_text("someone's")
        publisher.commit({"kind": "wikifilms.tables"})
    assert (tmp_path / "tables" / "report.docx").read_text() == "someone's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tables"]  # staging removed


def test_folder_without_manifest_is_refused(tmp_path):
    (tmp_path / "films").mkdir()
    with pytest.raises(UnfinishedOutputError, match="no manifest.json"):
        read_manifest(str(tmp_path))


@pytest.mark.real_dump
def test_real_fragments(spark, shared_wiki, tmp_path):
    manifest = job(spark, [shared_wiki / "enwiki-2016-sample-206pages.xml.bz2"], tmp_path / "a")
    assert manifest["pages"]["read"] == 206 and manifest["pages"]["redirects"] == 100
    assert [f["title"] for f in table(tmp_path / "a", "films")] == ["Actrius"]
    others = [shared_wiki / n for n in ("enwiki-3pages.xml.bz2", "enwiki-11pages-namespaces.xml",
                                        "enwiki-5pages-tables.xml.bz2")]
    manifest = job(spark, others, tmp_path / "b")
    assert manifest["pages"]["read"] == 3 + 11 + 5 and manifest["pages"]["films"] == 0
    assert manifest["pages"]["redirects"] == 1 + 4
    assert sum(manifest["pages"]["skipped"].values()) == 0
