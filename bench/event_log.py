"""Where a Spark application's seconds went, from its event log.

    python -m spark_jobs.parse_dump ... -p spark.event_log_dir=DIR
    python -m bench.event_log DIR        (the newest log in DIR, or a log file)
    python -m bench.event_log DIR --stages 80   (and every stage submitted from 80 s on)

For each Spark SQL query (in start order): when it started (seconds after the first), its
wall time, its Spark jobs and the seconds its tasks ran; then the same summed by job
description (parse_dump names its steps and writes: "step 2/4: redirects", "write films"),
and the time within the span when no job ran at all (the driver planning, or Python).
With --stages, each stage too: when it was submitted, its wall time, its tasks' count, summed
and longest seconds, and its job's description (which table's write, say): where a step's
critical path lies.
Standard library only: the log must be uncompressed, as spark.event_log_dir writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Query:
    execution_id: int
    description: str
    start_ms: int
    end_ms: int | None = None
    jobs: list[int] = field(default_factory=list)


@dataclass
class Stage:
    stage_id: int
    description: str  # its job's spark.job.description
    submitted_ms: int
    completed_ms: int
    tasks: int
    task_ms: int  # summed run time of its tasks
    longest_task_ms: int
    name: str


@dataclass
class Summary:
    queries: list[Query]
    job_span_ms: dict[int, tuple[int, int]]  # job id -> (submitted, completed)
    job_task_ms: dict[int, int]  # job id -> summed run time of its tasks (launch to finish)
    job_tasks: dict[int, int]
    stages: list[Stage] = field(default_factory=list)  # completed ones, by submission

    def query_task_ms(self, q: Query) -> int:
        return sum(self.job_task_ms.get(j, 0) for j in q.jobs)

    def idle_ms(self) -> int:
        """Time between the first job's submission and the last job's end with no job running."""
        spans = sorted(self.job_span_ms.values())
        if not spans:
            return 0
        idle, reach = 0, spans[0][1]
        for start, end in spans[1:]:
            idle += max(0, start - reach)
            reach = max(reach, end)
        return idle


def newest_log(path: Path) -> Path:
    """`path` itself, or the newest application log in the folder `path`."""
    if path.is_file():
        return path
    logs = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not logs:
        rolled = any(p.is_dir() and p.name.startswith("eventlog_v2_") for p in path.iterdir())
        raise FileNotFoundError(
            f"no event log in {path}" + (" but Spark's rolled, compressed ones" if rolled else "")
            + " (run the job with -p spark.event_log_dir=FOLDER)")
    return max(logs, key=lambda p: p.stat().st_mtime)


def read_summary(log: Path) -> Summary:
    queries: dict[int, Query] = {}
    job_span: dict[int, list[int]] = {}
    stage_job: dict[int, int] = {}
    task_ms: dict[int, int] = {}
    tasks: dict[int, int] = {}
    job_description: dict[int, str] = {}
    stage_tasks: dict[int, list[int]] = {}
    stages: list[Stage] = []
    with log.open("rb") as f:
        # Spark names a compressed log after its codec; zstd's magic number, in case not.
        if log.suffix in (".zstd", ".lz4", ".lzf", ".snappy") or f.read(4) == b"\x28\xb5\x2f\xfd":
            raise ValueError(f"{log} is compressed: write it with spark.event_log_dir "
                             "(spark.eventLog.compress=false)")
    with log.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{log}:{number}: not an event log line ({e})") from e
            kind = event["Event"]
            if kind.endswith("SQLExecutionStart"):
                queries[event["executionId"]] = Query(
                    event["executionId"], event.get("description") or "", event["time"])
            elif kind.endswith("SQLExecutionEnd") and event["executionId"] in queries:
                queries[event["executionId"]].end_ms = event["time"]
            elif kind == "SparkListenerJobStart":
                job = event["Job ID"]
                job_span[job] = [event["Submission Time"], event["Submission Time"]]
                for stage in event["Stage IDs"]:
                    stage_job[stage] = job
                properties = event.get("Properties") or {}
                job_description[job] = properties.get("spark.job.description") or ""
                execution = properties.get("spark.sql.execution.id")
                if execution is not None and int(execution) in queries:
                    queries[int(execution)].jobs.append(job)
            elif kind == "SparkListenerJobEnd" and event["Job ID"] in job_span:
                job_span[event["Job ID"]][1] = event["Completion Time"]
            elif kind == "SparkListenerTaskEnd" and event["Stage ID"] in stage_job:
                job = stage_job[event["Stage ID"]]
                info = event["Task Info"]
                task_ms[job] = task_ms.get(job, 0) + info["Finish Time"] - info["Launch Time"]
                tasks[job] = tasks.get(job, 0) + 1
                stage_tasks.setdefault(event["Stage ID"], []).append(
                    info["Finish Time"] - info["Launch Time"])
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                stage = info["Stage ID"]
                ran = stage_tasks.get(stage, [])
                stages.append(Stage(
                    stage, job_description.get(stage_job.get(stage, -1), ""),
                    info.get("Submission Time") or 0, info.get("Completion Time") or 0,
                    len(ran), sum(ran), max(ran, default=0), info.get("Stage Name") or ""))
    return Summary(sorted(queries.values(), key=lambda q: q.start_ms),
                   {j: (s, e) for j, (s, e) in job_span.items()}, task_ms, tasks,
                   sorted(stages, key=lambda s: (s.submitted_ms, s.stage_id)))


def report(summary: Summary) -> str:
    if not summary.queries:
        return "no Spark SQL queries in this log"
    t0 = summary.queries[0].start_ms
    end = max((q.end_ms or q.start_ms) for q in summary.queries)
    lines = [f"{'start s':>8} {'wall s':>7} {'jobs':>5} {'task s':>7}  query"]
    by_description: dict[str, list[float]] = {}
    for q in summary.queries:
        wall = ((q.end_ms or q.start_ms) - q.start_ms) / 1e3
        task_s = summary.query_task_ms(q) / 1e3
        lines.append(f"{(q.start_ms - t0) / 1e3:8.1f} {wall:7.2f} {len(q.jobs):5d} "
                     f"{task_s:7.2f}  {q.description[:80]}")
        first, last, jobs, tasks = by_description.setdefault(
            q.description, [q.start_ms, q.end_ms or q.start_ms, 0, 0.0])
        by_description[q.description] = [min(first, q.start_ms), max(last, q.end_ms or 0),
                                         jobs + len(q.jobs), tasks + task_s]
    lines += ["", f"{'wall s':>8} {'jobs':>5} {'task s':>7}  "
              "by description (first start to last end)"]
    for description, (first, last, jobs, tasks) in by_description.items():
        lines.append(f"{(last - first) / 1e3:8.2f} {jobs:5d} {tasks:7.2f}  {description[:80]}")
    all_task_s = sum(summary.job_task_ms.values()) / 1e3
    lines += ["", f"{len(summary.queries)} queries, {len(summary.job_span_ms)} jobs, "
              f"{sum(summary.job_tasks.values())} tasks, {all_task_s:.1f} task-s; "
              f"{(end - t0) / 1e3:.1f} s from the first query's start to the last one's end, "
              f"{summary.idle_ms() / 1e3:.1f} s of it with no job running"]
    return "\n".join(lines)


def stage_report(summary: Summary, from_s: float = 0.0) -> str:
    """The stages submitted from `from_s` seconds after the first query's start on."""
    t0 = summary.queries[0].start_ms if summary.queries else 0
    lines = [f"{'start s':>8} {'wall s':>7} {'tasks':>5} {'task s':>7} {'longest':>7}  "
             "job description | stage"]
    for s in summary.stages:
        if (s.submitted_ms - t0) / 1e3 < from_s:
            continue
        wall = (s.completed_ms - s.submitted_ms) / 1e3
        lines.append(f"{(s.submitted_ms - t0) / 1e3:8.1f} {wall:7.2f} "
                     f"{s.tasks:5d} {s.task_ms / 1e3:7.2f} {s.longest_task_ms / 1e3:7.2f}  "
                     f"{s.description[:40]} | {s.name[:50]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_log", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="an event log file, or the folder of logs")
    parser.add_argument("--stages", type=float, nargs="?", const=0.0, metavar="FROM_S",
                        help="also list each stage submitted from FROM_S seconds on (default 0)")
    args = parser.parse_args(argv)
    try:
        log = newest_log(args.path)
        print(f"event log: {log}")
        summary = read_summary(log)
        print(report(summary))
        if args.stages is not None:
            print()
            print(stage_report(summary, args.stages))
    except (OSError, ValueError) as e:
        print(f"event_log: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
