"""Load: tables written aside, then moved into place; the manifest is written last.

Works on any Hadoop file system (local, hdfs://, s3a://) through the JVM's FileSystem API.
A folder without `manifest.json` is an unfinished write: `read_manifest` refuses it.
"""

from __future__ import annotations

import json
import logging
import uuid

from conf.manifest import MANIFEST, TABLES_KIND
from conf.manifest import TABLES_SCHEMA_VERSION as SCHEMA_VERSION
from conf.manifest import read_manifest as _read_manifest

logger = logging.getLogger(__name__)

PRODUCE_TABLES = "run `python -m spark_jobs.parse_dump` to produce it"


class UnfinishedOutputError(RuntimeError):
    """A folder that has no (valid) manifest: a write that did not finish."""


class OutputPublisher:
    """Stage a run's tables in `<out>.__writing-<id>` and swap them into `<out>` at commit."""

    def __init__(self, spark, out: str, run_id: str | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex
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

    def remove_stale_staging(self) -> None:
        """Delete `<out>.__writing-*` left by killed runs (never read: they lack a manifest)."""
        parent = self._path(self.final).getParent()
        name = self._path(self.final).getName()
        if parent is None or not self._fs.exists(parent):
            return
        for status in self._fs.listStatus(parent):
            other = status.getPath().getName()
            if other.startswith(f"{name}.__writing-") or other.startswith(f"{name}.__old-"):
                logger.warning("removing unfinished output of an earlier run: %s", status.getPath())
                self._fs.delete(status.getPath(), True)

    def write_text(self, path: str, text: str) -> None:
        stream = self._fs.create(self._path(path), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def commit(self, manifest: dict) -> None:
        """Write the manifest into the staging folder, then replace `out` with it."""
        self.write_text(f"{self.staging}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True))
        old = f"{self.final}.__old-{self.run_id}"
        if self.exists(self.final):
            if not self._fs.rename(self._path(self.final), self._path(old)):
                raise OSError(f"could not move the previous output {self.final} aside")
        if not self._fs.rename(self._path(self.staging), self._path(self.final)):
            raise OSError(f"could not move {self.staging} to {self.final}")
        if self.exists(old):
            self._fs.delete(self._path(old), True)
        logger.info("published %s", self.final)

    def abort(self) -> None:
        if self.exists(self.staging):
            self._fs.delete(self._path(self.staging), True)


def read_manifest(folder: str) -> dict:
    """The manifest of a finished local tables folder; refuses a folder without one."""
    return _read_manifest(folder, TABLES_KIND, SCHEMA_VERSION, "tables", PRODUCE_TABLES,
                          UnfinishedOutputError)
