"""Load: tables written aside, then moved into place; the manifest is written last.

Works on any Hadoop file system (local, hdfs://, s3a://) through the JVM's FileSystem API.
A folder without `manifest.json` is an unfinished write: `read_manifest` refuses it.

A run claims its output folder while it works: beside its staging folder
`<out>.__writing-<id>` it keeps `<out>.__writing-<id>.alive` (host, pid, start), rewritten
every HEARTBEAT_S seconds. A later run removes the staging folders of runs that died (no
claim, a claim older than STALE_AFTER_S, or one from a process of this host that has ended),
and refuses to start beside a run that is alive: its cleanup would delete that run's tables
halfway through its write (an hour or more into a full-dump job). Seen with the code before
the claim, a second run started during the first's writes: once the first failed in a table
write (a Java traceback), once it went on to publish "successfully" (exit 0) from a staging
folder emptied under it. Two runs started at the same moment can both pass the check: a
guard against the usual mistake, not a lock (Hadoop file systems have no portable one).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator

from conf.errors import WikifilmsError
from conf.jsontext import dumps
from conf.manifest import MANIFEST, TABLES_KIND, parse_manifest
from conf.manifest import TABLES_SCHEMA_VERSION as SCHEMA_VERSION
from conf.manifest import read_manifest as _read_manifest
from conf.outputs import Existing, OutputFolderError, refusal, writer_ended, writer_record

logger = logging.getLogger(__name__)

PRODUCE_TABLES = "run `python -m spark_jobs.parse_dump` to produce it"

HEARTBEAT_S = 30.0
# Generous against clock differences between a cluster's driver and its file system's
# servers, and against a driver paused by garbage collection.
STALE_AFTER_S = 600.0
CLAIM_SUFFIX = ".alive"


class UnfinishedOutputError(WikifilmsError, RuntimeError):
    """A folder that has no (valid) manifest: a write that did not finish."""


class OutputBusyError(WikifilmsError, RuntimeError):
    """Another run, still alive, is writing the same output folder."""


class OutputPublisher:
    """Stage a run's tables in `<out>.__writing-<id>` and swap them into `<out>` at commit
    (`kind`: the manifest kind the job writes, tables by default)."""

    def __init__(self, spark, out: str, run_id: str | None = None, overwrite: bool = False,
                 kind: str = TABLES_KIND, what: str = "tables folder") -> None:
        self.run_id = run_id or uuid.uuid4().hex
        self.overwrite, self.kind, self.what = overwrite, kind, what
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.final = out.rstrip("/")
        self.staging = f"{self.final}.__writing-{self.run_id}"
        self._fs = self._path(self.final).getFileSystem(self._conf)

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def table_path(self, name: str) -> str:
        return f"{self.staging}/{name}"

    def exists(self, path: str) -> bool:
        return self._fs.exists(self._path(path))

    def _existing(self) -> Existing:
        """What is at `out` now, read through the file system (conf.outputs.Existing)."""
        path = self._path(self.final)
        if not self._fs.exists(path):
            return Existing(exists=False)
        if not self._fs.getFileStatus(path).isDirectory():
            return Existing(exists=True, is_dir=False, empty=False)
        if len(self._fs.listStatus(path)) == 0:
            return Existing(exists=True)
        kind = None
        with contextlib.suppress(Exception):  # unreadable: not known to be a tables folder
            kind = json.loads(self.read_text(f"{self.final}/{MANIFEST}")).get("kind")
        return Existing(exists=True, empty=False, kind=kind)

    def check_replaceable(self) -> None:
        """OutputFolderError unless `out` is absent, empty, or a folder of this job's kind
        that the run was asked to replace (conf/outputs.py): the run never deletes what it
        did not make."""
        reason = refusal(self.final, self._existing(), self.kind, self.what, self.overwrite)
        if reason:
            raise OutputFolderError(reason)

    @contextlib.contextmanager
    def claimed(self, heartbeat_s: float = HEARTBEAT_S,
                stale_after_s: float = STALE_AFTER_S) -> Iterator[OutputPublisher]:
        """The block writes and commits this run's output: other runs' leftovers are removed
        first (OutputBusyError if one is alive), the claim is kept fresh while the block runs,
        and what the block wrote is removed if it fails (or is interrupted)."""
        self.check_replaceable()
        self._remove_leftovers(stale_after_s)
        claim = f"{self.staging}{CLAIM_SUFFIX}"
        owner = json.dumps({**writer_record(), "run_id": self.run_id})
        self.write_text(claim, owner)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(heartbeat_s):
                try:
                    self.write_text(claim, owner)
                except Exception as e:  # noqa: BLE001 - a missed beat must not end the run
                    logger.warning("could not renew the output claim %s: %s", claim, e)

        heart = threading.Thread(target=beat, name="output-claim", daemon=True)
        heart.start()
        try:
            yield self
        except BaseException:
            # Best effort: a failed cleanup (the JVM gone with the run) must not hide why the
            # run failed; whatever stays is a dead run's leftover for the next run to remove.
            self._best_effort("remove the unfinished output", self.abort)
            raise
        finally:
            stop.set()
            heart.join(timeout=30)  # a daemon: a renewal stuck in a hung JVM does not hold us
            self._best_effort(f"remove the output claim {claim}",
                              lambda: self._fs.delete(self._path(claim), False))

    @staticmethod
    def _best_effort(what: str, action) -> None:
        try:
            action()
        except Exception as e:  # noqa: BLE001 - logged; the caller's outcome stands
            logger.warning("could not %s: %s", what, e)

    def _remove_leftovers(self, stale_after_s: float) -> None:
        """Delete the staging folders, set-aside outputs and claims of runs that died (their
        folders lack a manifest: never read); OutputBusyError, before deleting anything,
        when a run writing `<out>` is alive (still reading the dump, or writing)."""
        parent = self._path(self.final).getParent()
        name = self._path(self.final).getName()
        if parent is None or not self._fs.exists(parent):
            return
        entries = {status.getPath().getName(): status for status in self._fs.listStatus(parent)}
        prefixes = (f"{name}.__writing-", f"{name}.__old-")
        runs = {other[len(prefix):].removesuffix(CLAIM_SUFFIX)
                for other in entries for prefix in prefixes if other.startswith(prefix)}
        claims = {run: f"{name}.__writing-{run}{CLAIM_SUFFIX}" for run in runs}
        for run in sorted(runs):
            if claims[run] in entries:
                self._check_claim_dead(entries[claims[run]], stale_after_s)
        for run in sorted(runs):
            for leftover in (f"{name}.__writing-{run}", f"{name}.__old-{run}", claims[run]):
                if leftover in entries:
                    logger.warning("removing what an earlier run left unfinished: %s",
                                   entries[leftover].getPath())
                    self._fs.delete(entries[leftover].getPath(), True)

    def _check_claim_dead(self, status, stale_after_s: float) -> None:
        """OutputBusyError unless the run behind this claim has ended."""
        age = time.time() - status.getModificationTime() / 1000
        try:
            owner = json.loads(self.read_text(status.getPath().toString()))
        except Exception:  # noqa: BLE001 - an unreadable claim: judged by its age alone
            owner = {}
        if age > stale_after_s or writer_ended(owner):
            return
        started = owner.get("started")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
        raise OutputBusyError(
            f"another run is writing {self.final}: process {owner.get('pid', '?')} on "
            f"{owner.get('host', '?')}, started {since}, its claim renewed {age:.0f} s ago "
            f"({status.getPath()}). Wait for it to finish or stop it, or write elsewhere; a "
            f"claim not renewed for {stale_after_s:.0f} s is taken to be a dead run's"
        )

    def read_text(self, path: str) -> str:
        return _read_text(self._jvm, self._fs, self._path(path))

    def write_text(self, path: str, text: str) -> None:
        stream = self._fs.create(self._path(path), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def commit(self, manifest: dict) -> None:  # inside claimed()
        """Write the manifest into the staging folder, then replace `out` with it (checked
        again: an hour-long run must not delete what was put at `out` meanwhile)."""
        self.check_replaceable()
        self.write_text(f"{self.staging}/{MANIFEST}",
                        dumps(manifest, indent=2, sort_keys=True))
        old = f"{self.final}.__old-{self.run_id}"
        if self.exists(self.final) and not self._fs.rename(self._path(self.final), self._path(old)):
            raise OSError(f"could not move the previous output {self.final} aside")
        if not self._fs.rename(self._path(self.staging), self._path(self.final)):
            raise OSError(f"could not move {self.staging} to {self.final}")
        if self.exists(old):
            self._fs.delete(self._path(old), True)
        logger.info("published %s", self.final)

    def abort(self) -> None:
        if self.exists(self.staging):
            self._fs.delete(self._path(self.staging), True)


def _read_text(jvm, fs, path) -> str:
    stream = fs.open(path)
    try:  # commons-io ships with Spark
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode()
    finally:
        stream.close()


def read_manifest(folder: str) -> dict:
    """The manifest of a finished local tables folder; refuses a folder without one."""
    return _read_manifest(folder, TABLES_KIND, SCHEMA_VERSION, "tables", PRODUCE_TABLES,
                          UnfinishedOutputError)


def read_manifest_through(spark, folder: str) -> dict:
    """read_manifest for a tables folder on any Hadoop file system (hdfs://, s3a://,
    file:), read through the JVM as the job reads the tables themselves."""
    jvm = spark.sparkContext._jvm
    folder_path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = folder_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    path = jvm.org.apache.hadoop.fs.Path(f"{folder.rstrip('/')}/{MANIFEST}")
    if not fs.exists(folder_path):
        raise UnfinishedOutputError(f"{folder}: no such tables folder; {PRODUCE_TABLES}")
    if not fs.exists(path):
        raise UnfinishedOutputError(f"{folder} has no {MANIFEST}: an unfinished or foreign "
                                    f"write; {PRODUCE_TABLES}")
    return parse_manifest(_read_text(jvm, fs, path), str(path), TABLES_KIND, SCHEMA_VERSION,
                          PRODUCE_TABLES, UnfinishedOutputError)
