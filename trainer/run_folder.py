"""Run folders: reading a finished one (the manifest is written last by the export), and
preparing one to train into (a fresh one, or one to resume), for every model of the trainer."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from conf.errors import WikifilmsError
from conf.manifest import MANIFEST, RUN_KIND, RUN_SCHEMA_VERSION, STARTED, read_manifest, write_json
from conf.outputs import OutputFolderError, check_output_folder, folder_kind

# A run's position and history, beside its checkpoints.
STATE = "state.json"


class RunFolderError(WikifilmsError, ValueError):
    """A run folder that cannot be written, resumed or read; the message says what to do."""


def read_run_manifest(run_dir: str | Path) -> dict:
    return read_manifest(run_dir, RUN_KIND, RUN_SCHEMA_VERSION, "run",
                         "finish or resume it with `python -m trainer train --resume`",
                         RunFolderError)


def started_on(run_dir: Path, upstream: str) -> str | None:
    """The id of the `upstream` ("tables", "ratings") a run folder was started on: its
    manifest's, else its started.json's."""
    for name in (MANIFEST, STARTED):
        try:
            return json.loads((run_dir / name).read_text())[upstream]["id"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def check_run_dir(run_dir: Path, *, kind: str, what: str, upstream: str, source: str,
                  source_id: str, inputs: list[str], resume: bool, overwrite: bool) -> bool:
    """The refusals of prepare_run_dir, writing nothing, so that a command refuses a folder in
    a second, before it loads its inputs (tens of seconds at full size): a fresh run replaces
    only a folder of its `kind` (conf/outputs.py); a resumed one must have something to
    resume, started on the same `upstream` folder (`source`, whose manifest id is
    `source_id`). Returns whether a fresh run must first clear what is there."""
    if resume:
        if folder_kind(run_dir) != kind or not (run_dir / "checkpoints").is_dir():
            raise RunFolderError(f"{run_dir}: nothing to resume (not a {what} with "
                                 "checkpoints/); start without --resume")
        started = started_on(run_dir, upstream)
        if started != source_id:
            raise RunFolderError(
                f"{run_dir} was started on {upstream} {(started or '?')[:8]}, but {source} "
                f"holds {upstream} {source_id[:8]}: resume with the {upstream} it started "
                "on, or start a new run in another folder")
        return False
    try:
        existing = check_output_folder(
            run_dir, kind, what, inputs=inputs, overwrite=overwrite,
            how_to_replace="pass --resume to continue its run or --overwrite to start again")
    except OutputFolderError as e:
        raise RunFolderError(str(e)) from e
    return existing.exists and not existing.empty


def prepare_run_dir(run_dir: Path, *, kind: str, what: str, upstream: str, source: str,
                    source_id: str, inputs: list[str], resume: bool, overwrite: bool) -> None:
    """check_run_dir (again: the inputs took a while to load), then a fresh run's folder is
    emptied and gets started.json naming its kind and upstream; nothing in the folder changes
    before the checks pass."""
    clear = check_run_dir(run_dir, kind=kind, what=what, upstream=upstream, source=source,
                          source_id=source_id, inputs=inputs, resume=resume,
                          overwrite=overwrite)
    if resume:
        return
    if clear:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / STARTED, {
        "kind": kind, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        upstream: {"folder": str(Path(source).resolve()), "id": source_id},
    })


@dataclass(frozen=True)
class Worker:
    """This process's place among `train.strategy = "multi_worker"` workers (TF_CONFIG):
    the chief writes the run folder; the others train beside it and write nothing there."""

    index: int = 0
    count: int = 1
    chief: bool = True


def worker_of_env(environ=os.environ) -> Worker:
    """The Worker that TF_CONFIG describes (one chief alone without it), read without
    TensorFlow so that a worker knows, before any check, whether --out is its own to write.
    The chief is the "chief" task, or worker 0 when the cluster names none."""
    raw = environ.get("TF_CONFIG")
    if not raw:
        return Worker()
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        index = int(task["index"])
        chief = task["type"] == "chief" or (task["type"] == "worker" and index == 0
                                            and "chief" not in cluster)
    except (ValueError, KeyError, TypeError) as e:
        raise RunFolderError(f"TF_CONFIG is not a cluster description ({e}): "
                             'give {"cluster": {"worker": ["host:port", ...]}, '
                             '"task": {"type": "worker", "index": N}}') from e
    return Worker(index=index, count=workers, chief=chief)


class TrainingState:
    """Where the run is (epoch, step within it) and the metrics so far, saved with checkpoints."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE
        self.epoch, self.step, self.global_step = 0, 0, 0
        self.history: list[dict] = []

    def load(self) -> None:
        data = json.loads(self.path.read_text())
        self.epoch, self.step = data["epoch"], data["step"]
        self.global_step, self.history = data["global_step"], data["history"]

    def save(self) -> None:
        write_json(self.path, {"epoch": self.epoch, "step": self.step,
                               "global_step": self.global_step, "history": self.history})


def restore_latest(checkpoint, manager, state: TrainingState, run_dir: Path,
                   upstream: str, source: Path | None = None) -> None:
    """Restore the latest checkpoint of `manager` (or of the folder `source`: a worker
    resuming from the chief's) and the position beside it; RunFolderError when there is
    none, or it does not fit this model (other `upstream` data, dimension or settings),
    before anything in the run folder has changed."""
    import tensorflow as tf  # here: the CLI imports this module before TensorFlow

    latest = tf.train.latest_checkpoint(str(source)) if source else manager.latest_checkpoint
    state_path = source / STATE if source else state.path
    if latest is None or not state_path.exists():
        raise RunFolderError(f"{run_dir}: no checkpoint to resume from; start without --resume")
    try:
        checkpoint.restore(latest).assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RunFolderError(
            f"{latest} does not fit this model ({first[:200]}): resume with "
            f"the {upstream} and settings the run started with, or start a new run") from e
    data = json.loads(state_path.read_text())
    state.epoch, state.step = data["epoch"], data["step"]
    state.global_step, state.history = data["global_step"], data["history"]
