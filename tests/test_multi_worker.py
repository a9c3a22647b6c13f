"""`train.strategy = "multi_worker"`: two `python -m trainer train` processes on this machine
joined by TF_CONFIG (MultiWorkerMirroredStrategy over gRPC on 127.0.0.1), each training on
its part of every step's batch. The chief writes the run folder; killed part-way, both
resume from the chief's checkpoints; the vectors find the sample's planted pairs as well as
one process does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conf import load_config
from tests.spark_cluster import free_port

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--config", "test", "-p", "train.epochs=10", "-p", "train.early_stop_patience=0",
            "-q"]


def start(tables: Path, out: Path, truth: Path, *extra: str, tf_config: dict | None = None,
          log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log, "w") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "trainer", "train", "--tables", str(tables), "--out",
             str(out), "--pairs", str(truth), *SETTINGS, *extra], cwd=ROOT, env=env,
            stdout=output, stderr=subprocess.STDOUT)


def workers(tables: Path, out: Path, truth: Path, tmp: Path, *extra: str,
            name: str) -> list[subprocess.Popen]:
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    return [start(tables, out, truth, *extra, "-p", "train.strategy=multi_worker",
                  tf_config={"cluster": {"worker": hosts}, "task": {"type": "worker",
                                                                     "index": i}},
                  log=tmp / f"{name}-{i}.log") for i in range(2)]


def wait(processes: list[subprocess.Popen], tmp: Path, timeout_s: float = 240) -> None:
    for p in processes:
        assert p.wait(timeout_s) == 0, "\n".join(f.read_text()[-2000:]
                                                 for f in sorted(tmp.glob("*.log")))


def pair_hit(run: Path) -> float:
    quality = json.loads((run / "manifest.json").read_text())["quality"]
    return quality["pair_hit@10"]["vectors"]


@pytest.mark.slow
def test_two_workers_train_resume_and_find_the_pairs_one_process_finds(spark, tmp_path):
    from sample_dump.dump import generate
    from spark_jobs.inputs import resolve_local
    from spark_jobs.parse_dump import run as parse

    cfg = load_config("test", ["sample.films=200"])
    summary = generate(tmp_path / "dump", 200, 7, "multistream", cfg["sample"])
    dump = next(f for f in summary["files"] if f.endswith("multistream.xml.bz2"))
    tables = tmp_path / "tables"
    parse(spark, cfg, resolve_local([dump]), str(tables))
    truth = Path(summary["truth"])

    one = start(tables, tmp_path / "one", truth, log=tmp_path / "one.log")
    two = workers(tables, tmp_path / "two", truth, tmp_path, name="two")
    # Killed once the chief has checkpointed an epoch: both resume from its checkpoints.
    state = tmp_path / "two" / "checkpoints" / "state.json"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (
            state.exists() and json.loads(state.read_text())["epoch"] >= 2):
        assert all(p.poll() is None for p in two), (tmp_path / "two-0.log").read_text()[-2000:]
        time.sleep(0.05)
    for p in two:
        p.send_signal(signal.SIGKILL)
        p.wait()
    cut_at = json.loads(state.read_text())["epoch"]
    assert 2 <= cut_at < 10 and not (tmp_path / "two" / "manifest.json").exists()
    resumed = workers(tables, tmp_path / "two", truth, tmp_path, "--resume", name="resumed")
    wait([one, *resumed], tmp_path)

    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["config"]["train"]["strategy"] == "multi_worker"
    assert manifest["metrics"]["epochs"] == 10
    history = json.loads((tmp_path / "two" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, 11))  # the cut epochs kept
    said = (tmp_path / "resumed-1.log").read_text()
    assert '"worker": 1' in said and '"epochs": 10' in said  # trained beside the chief
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())  # the chief's folder, nothing else
    assert abs(pair_hit(tmp_path / "two") - pair_hit(tmp_path / "one")) <= 0.02
    assert pair_hit(tmp_path / "one") > 0.3  # the planted pairs are found at all
    # The sample's pairs are easy (the co-link baselines find them all); the held-out AUC
    # tells the two runs apart more finely, and is as close.
    auc = [json.loads((tmp_path / r / "manifest.json").read_text())["metrics"]["auc"]
           for r in ("one", "two")]
    assert abs(auc[0] - auc[1]) <= 0.02, auc
