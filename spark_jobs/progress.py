"""Progress of long Spark work: a thread that logs active stages, tasks done and an ETA."""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


class StageProgress:
    """Logs every `interval_s` seconds while active (`with StageProgress(sc, 10): ...`).

    Uses Spark's status tracker, so it works in local mode and on a cluster alike; an
    interval of 0 turns it off (tests).
    """

    def __init__(self, spark_context, interval_s: float, label: str = "",
                 clock=time.monotonic) -> None:
        self._sc = spark_context
        self._interval = interval_s
        self._label = label
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stage-progress", daemon=True)
        self._started = clock()
        self._first_seen: dict[int, float] = {}

    def __enter__(self) -> StageProgress:
        if self._interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def poll(self) -> list[str]:
        """One report: a line per active stage.

        A stage's seconds count from the first poll that saw it (at most one interval late),
        not from the job's start: a stage that starts an hour into the job (film pairs after
        the dump's read) would otherwise have the hour projected onto its own progress.
        """
        tracker = self._sc.statusTracker()
        now = self._clock()
        lines = []
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is None or info.numTasks == 0:
                continue
            done = info.numCompletedTasks
            stage_s = now - self._first_seen.setdefault(stage_id, now)
            eta = f"{stage_s * (info.numTasks - done) / done:,.0f} s" if done and stage_s else "?"
            lines.append(
                f"{self._label} stage {stage_id}: {done}/{info.numTasks} tasks done "
                f"({info.numActiveTasks} running), stage {stage_s:.0f} s, "
                f"job {now - self._started:.0f} s, ETA {eta}"
            )
        return lines

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                for line in self.poll():
                    logger.info("%s", line)
            except Exception as e:  # noqa: BLE001 - progress must never break the job
                logger.debug("progress poll failed: %s", e)
