"""conf/outputs.py: an output folder is replaced only when it is the stage's own, never when it
is, holds or lies inside an input, the current or the home directory (no Spark, no TF)."""

from __future__ import annotations

import json

import pytest

from conf.manifest import MANIFEST, STARTED, TABLES_KIND
from conf.outputs import OutputFolderError, check_output_folder, check_placement

WHAT = "tables folder"


def check(out, inputs=(), overwrite=False):
    return check_output_folder(out, TABLES_KIND, WHAT, inputs=list(inputs), overwrite=overwrite)


def test_new_and_empty_folders_are_written(tmp_path):
    assert not check(tmp_path / "new").exists
    (tmp_path / "empty").mkdir()
    assert check(tmp_path / "empty").empty


def test_someone_elses_folder_is_refused_even_with_overwrite(tmp_path):
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(OutputFolderError, match="holds files, not a tables folder.*left "
                                                    "alone"):
            check(mine, overwrite=overwrite)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        check(tmp_path / "a-file", overwrite=True)


def test_a_folder_of_another_stage_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / STARTED).write_text(json.dumps({"kind": "wikifilms.run"}))
    with pytest.raises(OutputFolderError, match="of kind 'wikifilms.run', not a tables folder"):
        check(run, overwrite=True)


def test_the_stages_own_folder_needs_overwrite(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / MANIFEST).write_text(json.dumps({"kind": TABLES_KIND}))
    with pytest.raises(OutputFolderError, match="holds a tables folder already: pass "
                                                "--overwrite"):
        check(tables)
    assert check(tables, overwrite=True).kind == TABLES_KIND


def test_an_output_that_is_holds_or_lies_inside_an_input_is_refused(tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    dump = dumps / "enwiki.xml.bz2"
    dump.write_bytes(b"BZh")
    with pytest.raises(OutputFolderError, match="holds the input"):
        check(dumps, [dump], overwrite=True)
    with pytest.raises(OutputFolderError, match="is the input"):
        check(dumps, [dumps], overwrite=True)
    with pytest.raises(OutputFolderError, match="lies inside the input"):
        check(dumps / "tables", [dumps])
    with pytest.raises(OutputFolderError, match="holds the input"):
        check(tmp_path, [f"file://{dump}"])
    check(tmp_path / "tables", [dump])  # beside the input: fine


def test_the_current_and_home_directories_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(OutputFolderError, match="--out . is the current directory"):
        check(".", overwrite=True)
    with pytest.raises(OutputFolderError, match="a folder holding the current directory"):
        check(tmp_path, overwrite=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(OutputFolderError, match="your home directory"):
        check("~", overwrite=True)
    check(tmp_path / "home" / "tables")  # inside them: fine


def test_remote_outputs_are_compared_as_uris():
    with pytest.raises(OutputFolderError, match="holds the input"):
        check_placement("hdfs://nn/data/", ["hdfs://nn/data/enwiki.xml.bz2"])
    check_placement("hdfs://nn/tables", ["hdfs://nn/data/enwiki.xml.bz2"])
    check_placement("hdfs://other/data", ["hdfs://nn/data/enwiki.xml.bz2"])
