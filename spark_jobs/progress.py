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

    def __init__(self, spark_context, interval_s: float, label: str = "") -> None:
        self._sc = spark_context
        self._interval = interval_s
        self._label = label
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stage-progress", daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> StageProgress:
        if self._interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        tracker = self._sc.statusTracker()
        while not self._stop.wait(self._interval):
            try:
                for stage_id in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(stage_id)
                    if info is None or info.numTasks == 0:
                        continue
                    done = info.numCompletedTasks
                    elapsed = time.monotonic() - self._started
                    eta = f"{elapsed * (info.numTasks - done) / done:,.0f} s" if done else "?"
                    logger.info(
                        "%s stage %d: %d/%d tasks done (%d running), %.0f s elapsed, ETA %s",
                        self._label, stage_id, done, info.numTasks, info.numActiveTasks,
                        elapsed, eta,
                    )
            except Exception as e:  # noqa: BLE001 - progress must never break the job
                logger.debug("progress poll failed: %s", e)
