"""Reading a finished run folder (the manifest is written last by trainer.export)."""

from __future__ import annotations

from pathlib import Path

from conf.manifest import RUN_KIND, RUN_SCHEMA_VERSION, read_manifest


class RunFolderError(ValueError):
    """A run folder that cannot be written, resumed or read; the message says what to do."""


def read_run_manifest(run_dir: str | Path) -> dict:
    return read_manifest(run_dir, RUN_KIND, RUN_SCHEMA_VERSION, "run",
                         "finish or resume it with `python -m trainer train --resume`",
                         RunFolderError)
