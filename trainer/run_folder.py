"""Reading a finished run folder (the manifest is written last by trainer.export)."""

from __future__ import annotations

import json
from pathlib import Path

RUN_KIND = "wikifilms.run"
RUN_SCHEMA_VERSION = 1


class RunFolderError(ValueError):
    """A run folder that cannot be written, resumed or read; the message says what to do."""


def read_run_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        raise RunFolderError(f"{run_dir} has no manifest.json: the run is unfinished "
                             "(resume it with `python -m trainer train --resume`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{path} is not valid JSON ({e})") from e
    if manifest.get("kind") != RUN_KIND or manifest.get("schema_version") != RUN_SCHEMA_VERSION:
        raise RunFolderError(f"{path}: kind {manifest.get('kind')!r} schema "
                             f"{manifest.get('schema_version')!r}, expected {RUN_KIND!r} "
                             f"schema {RUN_SCHEMA_VERSION}")
    return manifest
