"""A command's wall time and peak memory, children included (Spark's JVM and Python workers,
TensorFlow's threads): the resident set of the whole process tree, sampled from /proc.

    measured(argv) -> {"seconds", "peak_rss_bytes", "returncode", "log"}

Linux only (it reads /proc/PID/stat and /proc/PID/statm); sampling every `interval_s`
misses a peak shorter than that, so the figure is a lower bound on the true peak.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    """ppid -> pids of every process now."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):  # ended meanwhile
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        todo += tree.get(p, [])
    return total


def measured(argv: list[str], *, cwd: Path, log: Path, env: dict | None = None,
             interval_s: float = 0.5, timeout_s: float | None = None) -> dict:
    """Run `argv` (its stdout and stderr to `log`), sampling its tree's memory."""
    peak = [0]
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(interval_s):
                peak[0] = max(peak[0], tree_rss(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        stop.set()
        sampler.join()
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_bytes": peak[0],
            "returncode": code, "log": str(log)}
