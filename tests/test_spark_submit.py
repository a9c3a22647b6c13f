"""The job through the real spark-submit binary with the --py-files zip (as on a cluster)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import write_dump
from tests.test_parse_dump import HAND_PAGES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_spark_submit_with_the_jobs_zip(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_zip import build

    jobs_zip = build(tmp_path / "wikifilms-jobs.zip")
    names = zipfile.ZipFile(jobs_zip).namelist()
    assert "conf/base.toml" in names and "spark_jobs/wikitext.py" in names
    # Multistream, so that the executors run bz2_streams from the zip as well.
    dump = write_dump(tmp_path / "hand-multistream.xml.bz2", HAND_PAGES, pages_per_stream=3)
    out = tmp_path / "tables"
    spark_submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    result = subprocess.run(
        [str(spark_submit), "--master", "local[2]", "--properties-file",
         str(ROOT / "conf" / "spark-test.conf"), "--py-files", str(jobs_zip),
         str(ROOT / "spark_jobs" / "parse_dump.py"), "--config", "test",
         "-p", "links.min_film_count=2", "--dump", f"file://{dump}", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["reader"] for i in manifest["inputs"]] == ["bz2_streams"]
    assert [r["title"] for r in pq.read_table(out / "films").to_pylist()] == [
        "Alpha", "Beta", "Gamma", "Delta"
    ]
