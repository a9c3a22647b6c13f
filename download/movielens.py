"""A MovieLens release: GroupLens' `ml-RELEASE.zip`, fetched as a dump file is (a `.part`,
resumed with range requests) and renamed once its MD5 matches GroupLens' `.zip.md5` (where
GroupLens publishes one) and every member's CRC checks; a zip already in the folder is checked
the same way before it is called present.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import urllib.error
import zipfile
import zlib
from pathlib import Path

from download.http import Client, DownloadError, Progress, RemoteFile, fetch_to_part

logger = logging.getLogger(__name__)

RELEASES = ("100k", "1m", "10m", "20m", "25m", "32m", "latest", "latest-small")


def _zip_problem(path: Path, md5: str | None, chunk: int) -> str | None:
    """Why the zip at `path` is not the published one (MD5, or a member's CRC), or None."""
    if md5 is not None:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
        if digest.hexdigest() != md5:
            return f"MD5 {digest.hexdigest()}, GroupLens publishes {md5}"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, zlib.error) as e:
        return f"not a readable zip ({e})"
    return f"member {bad} fails its CRC" if bad else None


def _published_md5(client: Client, url: str) -> str | None:
    """GroupLens' MD5 of the zip at `url` (its `.md5` file), None where there is none."""
    try:
        text = client.text(f"{url}.md5")
    except DownloadError:
        return None
    found = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    return found.group(0).lower() if found else None


def _content_length(client: Client, url: str) -> int:
    try:
        with client.open(url) as response:
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code}; check --movielens (one of "
                            f"{', '.join(RELEASES)}) or --mirror") from e
    if not (length or "").isdigit():
        raise DownloadError(f"{url}: the server gives no size; try another --mirror")
    return int(length)


def download_movielens(release: str, out: str | Path, cfg, *, mirror: str | None = None,
                       progress: bool = True) -> dict:
    """Fetch and check GroupLens' ml-RELEASE.zip into `out` (module docstring)."""
    if release not in RELEASES:
        raise DownloadError(f"--movielens {release!r}: one of {', '.join(RELEASES)}")
    d = cfg["download"]
    client = Client(d)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    name = f"ml-{release}.zip"
    url = f"{(mirror or d['movielens_url']).rstrip('/')}/{name}"
    md5 = _published_md5(client, url)
    final, part = out / name, out / f"{name}.part"
    if final.exists():
        problem = _zip_problem(final, md5, d["chunk_bytes"])
        if problem:
            raise DownloadError(f"{final}: {problem}; it is damaged or another file: move it "
                                "away and re-run")
        result = "present"
    else:
        f = RemoteFile(name, _content_length(client, url), "")
        bars = Progress([f], progress)
        attempts = 0
        try:
            while True:
                attempts += 1
                bars.start(f)
                fetch_to_part(client, url, f, part, d["chunk_bytes"], bars)
                problem = _zip_problem(part, md5, d["chunk_bytes"])
                if problem is None:
                    part.replace(final)
                    break
                part.unlink()
                if attempts == 2:
                    raise DownloadError(f"{url}: {problem}, twice; try later or another "
                                        "--mirror")
                logger.warning("%s: %s; fetching it again", name, problem)
        finally:
            bars.close()
        result = "downloaded" if attempts == 1 else "downloaded twice"
    return {"movielens": release, "file": str(final), "bytes": final.stat().st_size,
            "md5": md5 or "none published (every member's CRC checked)", "result": result,
            "seconds": round(time.perf_counter() - started, 3)}
