"""Whole-file SHA-256 of the index files, checked once per version of each file.

Annoy trusts its file: a damaged `.ann` of the right size crashes the process (a segfault,
exit 139) instead of raising. `build` records each file's SHA-256 in the manifest; `query`
checks a file against it before opening it, but only when the file is not the one already
verified: the file's identity and state (device, inode, size, modification and change
times) are remembered in a small cache after a successful check, so that later queries pay
a `stat` instead of reading 0.5 GB. Any write to a file moves its change time (which no
user can set back), so a damaged file is read and hashed again.

The cache is `$WIKIFILMS_CACHE_DIR`, else `$XDG_CACHE_HOME/wikifilms`, else
`~/.cache/wikifilms`: `verified-index-files.json`. Where it cannot be written every query
hashes the files it opens; nothing fails for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE = "verified-index-files.json"
MAX_ENTRIES = 512  # files remembered; the oldest are forgotten first


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cache_path() -> Path:
    folder = os.environ.get("WIKIFILMS_CACHE_DIR")
    if not folder:
        folder = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                     / "wikifilms")
    return Path(folder) / CACHE_FILE


def file_state(path: Path) -> list[int]:
    """What identifies this version of the file (see the module docstring)."""
    s = path.stat()
    return [s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns]


def _read_cache() -> dict:
    try:
        cache = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_cache(cache: dict) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{CACHE_FILE}.")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, path)  # concurrent queries: the last one's view wins, none is torn
    except OSError as e:
        logger.debug("could not write %s: %s", path, e)
        with contextlib.suppress(NameError, OSError):
            os.unlink(tmp)


def remember(verified: list[tuple[Path, list[int], str]]) -> None:
    """Record files as verified: (path, its file_state taken before it was hashed, hash)."""
    cache = _read_cache()
    for path, state, digest in verified:
        key = str(path.resolve())
        cache.pop(key, None)  # re-inserted last: the newest
        cache[key] = {"state": state, "sha256": digest}
    while len(cache) > MAX_ENTRIES:
        cache.pop(next(iter(cache)))
    _write_cache(cache)


def matches(path: Path, expected: str, *, force: bool = False) -> bool:
    """Whether the file's SHA-256 is `expected`: from the cache when this very version of
    the file was verified before (not with `force`), else by reading it whole."""
    state = file_state(path)  # before reading: a write during the hash moves it
    if not force:
        seen = _read_cache().get(str(path.resolve()))
        if (isinstance(seen, dict) and seen.get("sha256") == expected
                and seen.get("state") == state):
            return True
    if sha256_of(path) != expected:
        return False
    remember([(path, state, expected)])
    return True
