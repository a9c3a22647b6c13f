"""A Spark standalone cluster on this machine: a master and workers from the pip package's own
scripts, bound to 127.0.0.1 (web UIs too, through SPARK_LOCAL_IP), started and stopped by a
test; and spark-submit runs of the jobs on it, as docs/operations.md describes for N hosts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(work: Path) -> dict:
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_WORKER_DIR": str(work / "work"), "SPARK_LOG_DIR": str(work / "logs"),
            "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


@contextmanager
def standalone_cluster(work: Path, workers: int = 2, cores: int = 1,
                       memory: str = "1536m") -> Iterator[str]:
    """A master and `workers` workers (each `cores` cores) while the block runs; the
    master's URL (spark://127.0.0.1:PORT). Their logs are in `work`."""
    work.mkdir(parents=True, exist_ok=True)
    env = _env(work)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    processes = [_started([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                           "127.0.0.1", "--port", str(port), "--webui-port", str(ui)], env,
                          work / "master.log")]
    try:
        for i in range(workers):
            processes.append(_started(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                 url], env, work / f"worker-{i}.log"))
        _wait_for_workers(ui, workers, processes, work)
        yield url
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _started(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)


def _wait_for_workers(ui: int, workers: int, processes, work: Path,
                      timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a cluster process ended; see {work}/*.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as r:
                alive = [w for w in json.loads(r.read())["workers"] if w["state"] == "ALIVE"]
            if len(alive) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{workers} workers did not register with the master in "
                       f"{timeout_s:.0f} s; see {work}/*.log")


def spark_submit(master: str, script: str, args: list[str], work: Path, jobs_zip: Path,
                 timeout_s: float = 600) -> subprocess.CompletedProcess:
    """`spark-submit --master MASTER --py-files JOBS_ZIP spark_jobs/SCRIPT ARGS` as a user on
    the cluster types it (executors of one core and 1 GB, two at most)."""
    submit = Path(sys.executable).parent / "spark-submit"
    return subprocess.run(
        [str(submit), "--master", master, "--conf", "spark.executor.memory=1g",
         "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2",
         "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}",
         "--driver-memory", "1g", "--py-files", str(jobs_zip),
         str(ROOT / "spark_jobs" / script), *args],
        cwd=work, env=_env(work), capture_output=True, text=True, timeout=timeout_s)
