"""The job's measuring aids: stage progress (spark_jobs/progress.py), the event-log setting
(spark.event_log_dir) and its summary (bench/event_log.py). No Spark session: a stand-in
status tracker, and an event log with the events and fields Spark 4 writes."""

from __future__ import annotations

import json
from types import SimpleNamespace

from bench.event_log import main as event_log_main
from bench.event_log import read_summary, report
from conf import load_config
from spark_jobs.progress import StageProgress
from spark_jobs.session import local_properties


class Tracker:
    """Spark's status tracker as the progress thread sees it, set by the test."""

    def __init__(self) -> None:
        self.stages: dict[int, tuple[int, int, int]] = {}  # id -> tasks, done, running

    def getActiveStageIds(self):  # noqa: N802 - Spark's name
        return list(self.stages)

    def getStageInfo(self, stage_id):  # noqa: N802
        tasks, done, running = self.stages[stage_id]
        return SimpleNamespace(numTasks=tasks, numCompletedTasks=done, numActiveTasks=running)


def test_a_late_stage_gets_its_own_eta_not_the_jobs_elapsed_time():
    now = [0.0]
    tracker = Tracker()
    progress = StageProgress(SimpleNamespace(statusTracker=lambda: tracker), 10, "job",
                             clock=lambda: now[0])
    now[0] = 3600.0  # an hour in, the pairs' stage starts
    tracker.stages = {42: (100, 0, 2)}
    assert progress.poll() == ["job stage 42: 0/100 tasks done (2 running), stage 0 s, "
                               "job 3600 s, ETA ?"]
    now[0] = 3660.0
    tracker.stages = {42: (100, 25, 2)}
    # 25 tasks in 60 s: 180 s for the other 75 (the job's hour would have said 10,980 s).
    assert progress.poll() == ["job stage 42: 25/100 tasks done (2 running), stage 60 s, "
                               "job 3660 s, ETA 180 s"]


def test_event_log_setting_writes_one_uncompressed_log_per_application(tmp_path):
    cfg = load_config("test", [f'spark.event_log_dir="{tmp_path / "logs"}"'])
    properties = local_properties(cfg)
    assert properties["spark.eventLog.enabled"] == "true"
    assert properties["spark.eventLog.dir"] == (tmp_path / "logs").as_uri()
    assert (properties["spark.eventLog.compress"], properties["spark.eventLog.rolling.enabled"]) \
        == ("false", "false")
    assert (tmp_path / "logs").is_dir()  # Spark does not start without it
    assert "spark.eventLog.enabled" not in local_properties(load_config("test"))


def _events(tmp_path):
    """Two queries: `read` (one job, two tasks of 4 s, 0-5 s) and `write films` (two jobs,
    6-7 s and 8-10 s); nothing runs from 5 to 6 s and from 7 to 8 s."""
    def job(job_id, execution, stage, start, end, tasks, description):
        return [
            {"Event": "SparkListenerJobStart", "Job ID": job_id, "Submission Time": start,
             "Stage IDs": [stage], "Properties": {"spark.sql.execution.id": str(execution),
                                                  "spark.job.description": description}},
            *({"Event": "SparkListenerTaskEnd", "Stage ID": stage,
               "Task Info": {"Launch Time": a, "Finish Time": b}} for a, b in tasks),
            {"Event": "SparkListenerStageCompleted",
             "Stage Info": {"Stage ID": stage, "Submission Time": start, "Completion Time": end,
                            "Number of Tasks": len(tasks), "Stage Name": f"stage {stage}"}},
            {"Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": end},
        ]
    sql = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecution"
    events = [
        {"Event": "SparkListenerApplicationStart", "Timestamp": 0},
        {"Event": sql + "Start", "executionId": 0, "description": "step 1/4: read", "time": 0},
        *job(0, 0, 0, 0, 5000, [(500, 4500), (1000, 5000)], "step 1/4: read"),
        {"Event": sql + "End", "executionId": 0, "time": 5000},
        {"Event": sql + "Start", "executionId": 1, "description": "write films", "time": 5500},
        *job(1, 1, 1, 6000, 7000, [(6000, 7000)], "write films"),
        *job(2, 1, 2, 8000, 10000, [(8000, 9500)], "write films"),
        {"Event": sql + "End", "executionId": 1, "time": 10000},
    ]
    log = tmp_path / "local-1"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    return log


def test_event_log_summary_of_queries_jobs_task_seconds_and_idle_time(tmp_path, capsys):
    summary = read_summary(_events(tmp_path))
    assert [(q.description, q.jobs) for q in summary.queries] == [
        ("step 1/4: read", [0]), ("write films", [1, 2])]
    assert [summary.query_task_ms(q) for q in summary.queries] == [8000, 2500]
    assert summary.idle_ms() == 2000
    text = report(summary)
    assert "     0.0    5.00     1    8.00  step 1/4: read" in text
    assert "     5.5    4.50     2    2.50  write films" in text
    assert text.endswith("2 queries, 3 jobs, 4 tasks, 10.5 task-s; 10.0 s from the first "
                         "query's start to the last one's end, 2.0 s of it with no job running")
    assert event_log_main([str(tmp_path)]) == 0  # a folder: its newest log
    assert "write films" in capsys.readouterr().out


def test_event_log_lists_stages_from_a_given_second(tmp_path, capsys):
    summary = read_summary(_events(tmp_path))
    assert [(s.stage_id, s.description, s.tasks, s.task_ms, s.longest_task_ms)
            for s in summary.stages] == [(0, "step 1/4: read", 2, 8000, 4000),
                                         (1, "write films", 1, 1000, 1000),
                                         (2, "write films", 1, 1500, 1500)]
    assert event_log_main([str(tmp_path), "--stages", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    stage_lines = lines[lines.index(next(x for x in lines if "job description | stage" in x)) + 1:]
    assert stage_lines == ["     6.0    1.00     1    1.00    1.00  write films | stage 1",
                           "     8.0    2.00     1    1.50    1.50  write films | stage 2"]


def test_event_log_refuses_a_compressed_log_saying_how_to_write_one(tmp_path, capsys):
    (tmp_path / "events_1_local-1.zstd").write_bytes(b"\x28\xb5\x2f\xfd\x00\x01")
    assert event_log_main([str(tmp_path)]) == 2
    assert "is compressed: write it with spark.event_log_dir" in capsys.readouterr().err


# Issue 34: the default log went to a predictable /tmp/wikifilms-spark-<pid>.log, and a
# symlink placed there was followed: its target was overwritten with Spark's lines.
def test_the_default_spark_log_is_a_fresh_private_file_never_a_planted_link(tmp_path,
                                                                            monkeypatch):
    import os
    import stat
    import tempfile

    from spark_jobs import session

    monkeypatch.setattr(session, "_private_log", None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "someone-elses-file"
    victim.write_text("keep me")
    (tmp_path / f"wikifilms-spark-{os.getpid()}.log").symlink_to(victim)
    cfg = load_config("test")
    path = session.spark_log_path(cfg)
    assert path.parent.parent == tmp_path and not path.is_symlink()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_size == 0
    assert session.spark_log_path(cfg) == path  # one file a process, named in its errors
    assert session.log_options(cfg)[1] == f"-Dwikifilms.spark_log={path}"
    path.write_text("ERROR something\n")
    assert session.spark_log_note(path) == f" (Spark's log: {path})"
    session.remove_default_log(cfg, path)
    assert not path.parent.exists() and victim.read_text() == "keep me"
