"""What every download shares: the HTTP client (User-Agent, timeouts, retries with back-off),
a `.part` file completed with range requests, SHA-1s remembered per file state, progress bars.

Standard library HTTP (urllib) and tqdm; no Spark: a download host needs neither Java nor a
cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from conf.errors import WikifilmsError
from conf.version import code_version

logger = logging.getLogger(__name__)

SHA1_CACHE = ".wikifilms-sha1.json"


class DownloadError(WikifilmsError, RuntimeError):
    """A download that cannot go on; the message names the URL or file and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """A file a server lists: its name, size in bytes and SHA-1 ("" where none is given)."""

    name: str
    size: int
    sha1: str


class Client:
    """GET with the project's User-Agent, a timeout, and retries with back-off."""

    def __init__(self, cfg: dict):
        self.user_agent = cfg["user_agent"].replace("{version}",
                                                    code_version()["package"] or "dev")
        self.timeout = cfg["timeout_s"]
        self.retries = cfg["retries"]
        self.backoff = cfg["backoff_s"]

    def wait(self, failures: int) -> None:
        time.sleep(min(60.0, self.backoff * 2 ** (failures - 1)))

    def open(self, url: str, start: int = 0):
        """The response to GET `url` (from byte `start`), after retrying 5xx and timeouts."""
        headers = {"User-Agent": self.user_agent}
        if start:
            headers["Range"] = f"bytes={start}-"
        failures = 0
        while True:
            try:
                return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                              timeout=self.timeout)
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    e.close()
                    raise
                reason = f"HTTP {e.code}"
                e.close()
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as e:
                reason = str(getattr(e, "reason", e))
            failures += 1
            if failures > self.retries:
                raise DownloadError(f"{url}: {reason}, {failures} times; the server is down "
                                    "or unreachable, try later or another --mirror")
            logger.warning("%s: %s; retry %d of %d", url, reason, failures, self.retries)
            self.wait(failures)

    def json(self, url: str) -> dict:
        try:
            with self.open(url) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: HTTP {e.code}; check --wiki and --date (or --mirror)"
                                ) from e
        except ValueError as e:
            raise DownloadError(f"{url}: not valid JSON ({e})") from e

    def text(self, url: str) -> str:
        try:
            with self.open(url) as response:
                return response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: HTTP {e.code}; check --wiki (or --mirror)") from e


def file_state(path: Path) -> list[int]:
    s = path.stat()
    return [s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns]


def _read_sha1_cache(out: Path) -> dict:
    try:
        cache = json.loads((out / SHA1_CACHE).read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def remember_sha1(path: Path, state: list[int], sha1: str) -> None:
    """Record the SHA-1 of `path` as it was at `state` (taken before it was hashed)."""
    cache = _read_sha1_cache(path.parent)
    cache[path.name] = {"state": state, "sha1": sha1}
    tmp = path.parent / f"{SHA1_CACHE}.tmp"
    try:
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(path.parent / SHA1_CACHE)
    except OSError as e:  # only a cache: the next run hashes the file again
        logger.warning("could not write %s: %s", path.parent / SHA1_CACHE, e)


def sha1_of_file(path: Path, chunk: int) -> str:
    """The SHA-1 of a finished file: from the cache when this version of it was hashed
    before, else read whole (a 22 GB file takes a minute or more) and remembered."""
    state = file_state(path)
    seen = _read_sha1_cache(path.parent).get(path.name)
    if isinstance(seen, dict) and seen.get("state") == state and seen.get("sha1"):
        return seen["sha1"]
    logger.info("%s: checking its SHA-1", path.name)
    sha1 = _sha1_of(path, chunk).hexdigest()
    remember_sha1(path, state, sha1)
    return sha1


def _sha1_of(path: Path, chunk: int):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest


def fetch_to_part(client: Client, url: str, f: RemoteFile, part: Path, chunk: int,
                  progress) -> str:
    """Complete `part` from the server (resuming what is there); returns its SHA-1."""
    have = part.stat().st_size if part.exists() else 0
    if have > f.size:
        part.unlink()
        have = 0
    digest = _sha1_of(part, chunk) if have else hashlib.sha1()
    progress.resume(have)
    failures = 0
    while have < f.size:
        try:
            response = client.open(url, start=have)
        except urllib.error.HTTPError as e:
            hint = "the dump run changed or the mirror lacks it" if e.code in (404, 416) else ""
            raise DownloadError(f"{url}: HTTP {e.code}; {hint or 'try later or another --mirror'}"
                                ) from e
        with response:
            if have and response.status != 206:  # the server ignored the range: start over
                logger.warning("%s: no range support, downloading from the start", url)
                have, digest = 0, hashlib.sha1()
                progress.resume(0)
            mode = "ab" if have else "wb"
            before = have
            try:
                with open(part, mode) as out:
                    # Never more than the declared size is written; a byte beyond it is an
                    # error (below), whatever the server sends.
                    while have < f.size and (block := response.read(min(chunk, f.size - have))):
                        out.write(block)
                        digest.update(block)
                        have += len(block)
                        progress.update(len(block))
                if have == f.size and response.read(1):
                    raise DownloadError(
                        f"{url}: the server sends more than the {f.size} bytes dumpstatus.json "
                        "says; the dump run changed or the mirror is wrong: re-run later or use "
                        "another --mirror")
            except (TimeoutError, ConnectionError, HTTPException) as e:
                # A dropped or stalled connection; a local write error (disk full) is another
                # OSError and ends the command with its message.
                logger.warning("%s: connection lost at %d of %d bytes (%s)", f.name, have,
                               f.size, e)
        if have < f.size:
            failures = 0 if have > before else failures + 1
            if failures > client.retries:
                raise DownloadError(f"{url}: no progress after {failures} tries at byte "
                                    f"{have} of {f.size}; the server stalls, re-run later to "
                                    f"resume from {part.name}")
            client.wait(max(failures, 1))
    return digest.hexdigest()


class Progress:
    """Per-file and overall bars (bytes, rate, ETA) on stderr; silent when disabled."""

    def __init__(self, files: list[RemoteFile], enabled: bool):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.total = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True,
                          unit_divisor=1024, desc="all files", position=0, disable=not enabled)
        self.file = None

    def start(self, f: RemoteFile) -> None:
        if self.file is not None:
            self.file.close()
        self.file = self._tqdm(total=f.size, unit="B", unit_scale=True, unit_divisor=1024,
                               desc=f.name[-40:], position=1, leave=False,
                               disable=not self.enabled)
        self._counted = 0

    def resume(self, have: int) -> None:
        """The file's bar is at `have` bytes (a resumed .part, or 0 after a restart)."""
        self.total.update(have - self._counted)
        self.file.n = have
        self.file.refresh()
        self._counted = have

    def update(self, n: int) -> None:
        self.file.update(n)
        self.total.update(n)
        self._counted += n

    def skip(self, f: RemoteFile) -> None:
        self.total.update(f.size)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.total.close()
