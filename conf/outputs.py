"""Which output folders a stage may write, and what it may replace there.

A stage deletes only what it made. Its `--out` is refused with one line when it is:
- the current directory, the home directory, or a folder holding either;
- one of the stage's inputs, a folder holding one, or a folder inside one;
- an existing file, or a folder that is not empty and is not a folder of the stage's own kind
  (a finished one, with its `manifest.json`, or one it started, with `started.json`);
- a folder of the stage's kind when `overwrite` is not given.

Standard library only: the three stages share these rules, and parse_dump applies
`refusal` to folders it reads through Hadoop's file system (hdfs://, s3a://) as well.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from conf.errors import WikifilmsError
from conf.manifest import MANIFEST, STARTED


class OutputFolderError(WikifilmsError, ValueError):
    """An output folder the stage must not write; the message says why and what to do."""


@dataclass(frozen=True)
class Existing:
    """What is at the output path now: nothing, a file, or a folder (empty or not, and the
    kind its manifest or started.json declares, if any)."""

    exists: bool
    is_dir: bool = True
    empty: bool = True
    kind: str | None = None


def _key(path: str) -> str:
    """A path to compare with others: local paths resolved, URIs without a trailing slash."""
    if "://" in path and not path.startswith("file:"):
        parsed = urlparse(path)
        return f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/') or '/'}"
    local = urlparse(path).path if path.startswith("file:") else path
    return str(Path(local).expanduser().resolve())


def _under(inner: str, outer: str) -> bool:
    """Whether `inner` is `outer` or lies inside it (both keys)."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_placement(out: str, inputs: list[str]) -> None:
    """OutputFolderError when `out` is, holds or lies inside an input, or is (or holds) the
    current or the home directory: replacing it would delete what the stage did not make."""
    target = _key(out)
    for name, place in (("the current directory", Path.cwd()), ("your home directory",
                                                                 Path.home())):
        if _under(str(place.resolve()), target):
            raise OutputFolderError(
                f"--out {out} is {'' if str(place.resolve()) == target else 'a folder holding '}"
                f"{name}: give a new folder for the output")
    for given in inputs:
        source = _key(given)
        if _under(source, target):
            what = "is" if source == target else "holds"
            raise OutputFolderError(f"--out {out} {what} the input {given}: give a folder "
                                    "apart from the inputs")
        if _under(target, source):
            raise OutputFolderError(f"--out {out} lies inside the input {given}: give a "
                                    "folder apart from the inputs")


def refusal(out: str, existing: Existing, kind: str, what: str, overwrite: bool,
            how_to_replace: str = "pass --overwrite to replace it") -> str | None:
    """Why the stage must not replace what is at `out` (one line), or None when it may.

    `kind` is the manifest kind the stage writes ("wikifilms.tables"), `what` its name for
    a folder of that kind ("tables folder")."""
    if not existing.exists:
        return None
    if not existing.is_dir:
        return f"--out {out} is a file: give a folder"
    if existing.empty:
        return None
    if existing.kind != kind:
        held = f"a folder of kind {existing.kind!r}" if existing.kind else "files"
        return (f"--out {out} holds {held}, not a {what}; it was not written by this "
                "command and is left alone: give a new or empty folder")
    if not overwrite:
        return f"--out {out} holds a {what} already: {how_to_replace}"
    return None


def local_existing(folder: Path) -> Existing:
    """What is at the local path `folder` (see Existing)."""
    if not folder.exists() and not folder.is_symlink():
        return Existing(exists=False)
    if not folder.is_dir():
        return Existing(exists=True, is_dir=False, empty=False)
    if not any(folder.iterdir()):
        return Existing(exists=True)
    return Existing(exists=True, empty=False, kind=folder_kind(folder))


def folder_kind(folder: Path) -> str | None:
    """The kind a wikifilms folder declares: its manifest's, else its started.json's."""
    for name in (MANIFEST, STARTED):
        try:
            kind = json.loads((folder / name).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(kind, str):
            return kind
    return None


def check_output_folder(out: str | Path, kind: str, what: str, *, inputs: list[str] = (),
                        overwrite: bool = False,
                        how_to_replace: str = "pass --overwrite to replace it") -> Existing:
    """OutputFolderError unless the stage may write (and, with `overwrite`, replace) the
    local folder `out`: every rule of this module's docstring. Returns what is there."""
    check_placement(str(out), [str(i) for i in inputs])
    existing = local_existing(Path(out))
    reason = refusal(str(out), existing, kind, what, overwrite, how_to_replace)
    if reason:
        raise OutputFolderError(reason)
    return existing


def writer_record() -> dict:
    """Who is writing: this host and process, and since when (a staging folder's owner)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return True


def writer_ended(owner: dict) -> bool:
    """Whether the writer of a writer_record is known to have ended: a process of this host
    that is no longer running (another host's writer cannot be checked from here)."""
    pid = owner.get("pid")
    return (owner.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0
            and not process_alive(pid))
