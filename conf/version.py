"""The code version every manifest records: the package version and the git commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path


def code_version() -> dict[str, str | None]:
    try:
        version = metadata.version("wikifilms")
    except metadata.PackageNotFoundError:
        version = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"package": version, "git_commit": commit}
