"""scripts/cast_ceiling.py (the README's cast-link analysis) on a generated dump, end to end:
the job, a short training run, then the script, which must rebuild the run's own held-out split
and score it three ways."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conf import load_config
from spark_jobs.inputs import resolve_local
from spark_jobs.parse_dump import run
from spark_jobs.sample_dump import generate

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cast_ceiling_scores_the_runs_own_held_out_actors(spark, tmp_path):
    sample = dict(load_config("test")["sample"])
    summary = generate(tmp_path / "dump", 150, 5, "multistream", sample)
    tables = tmp_path / "tables"
    run(spark, load_config("test"), resolve_local([str(tmp_path / "dump")]), str(tables))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--tables", str(tables), "--out", str(out),
         "--config", "test", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]

    script = subprocess.run(
        [sys.executable, "scripts/cast_ceiling.py", "--run", str(out), "--truth", summary["truth"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr[-2000:]
    text = script.stdout
    counts = re.search(r"held-out links: (\d+), of them actors: (\d+)", text)
    held, actors = map(int, counts.groups())
    assert 0 < actors < held
    model, rule, careers = map(float, re.search(
        r"model ([\d.]+), rule ([\d.]+), careers ([\d.]+)", text).groups())
    # The planted careers are what casts were drawn from: they order actor links best.
    assert careers > 0.75 and careers >= rule and careers >= model, text
    # The script rebuilt the run's split and negatives: its overall AUC is the run's.
    overall = float(re.search(r"overall AUC of the run: ([\d.]+)", text).group(1))
    metrics = json.loads((out / "manifest.json").read_text())["metrics"]
    assert overall == pytest.approx(metrics["auc"], abs=1e-4)
