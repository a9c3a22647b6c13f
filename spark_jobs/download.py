"""Download a Wikipedia dump run, or a MovieLens release: resumable, verified, polite.

    python -m spark_jobs.download --wiki enwiki --date latest|YYYYMMDD --out DIR
                                  [--parts] [--job NAME] [--mirror URL] [-q]
    python -m spark_jobs.download --movielens 100k|1m|10m|20m|25m|32m|latest|latest-small
                                  --out DIR [--mirror URL] [-q]

A MovieLens release is GroupLens' `ml-RELEASE.zip`, fetched as a dump file is (a `.part`,
resumed with range requests) and renamed once its MD5 matches GroupLens' `.zip.md5` (where
GroupLens publishes one) and every member's CRC checks; a zip already in DIR is checked the
same way before it is called present.

The dump run's machine-readable status, `<base>/<wiki>/<date>/dumpstatus.json`, lists the
files of each job with their sizes and SHA-1 sums:

    {"jobs": {"articlesmultistreamdump": {"status": "done", "files": {
        "enwiki-…-pages-articles-multistream.xml.bz2": {"size": …, "sha1": "…", "url": "…"},
        …}}, …}, "version": "0.8"}

By default the multistream `.bz2` and its index (job `articlesmultistreamdump`); `--parts`
takes the partition files (job `articlesdump`). `latest` is the newest run whose job is done.

Each file is written as `DIR/<name>.part` and renamed to `DIR/<name>` only after its SHA-1
matched. A file already under its own name is not fetched again once its SHA-1 matches; the
sums this command computed are kept in `DIR/.wikifilms-sha1.json` by file and state (inode,
size, modification and change times), so a later run re-reads only a file that changed,
and a file of the right size but other content is refused, not taken. An interrupted
download resumes from its `.part` with an HTTP range request; a SHA-1 mismatch re-fetches the
file once, then fails. One connection at a time, a User-Agent naming the project, retries
with back-off on 5xx answers, timeouts and dropped connections.

Standard library HTTP (urllib) and tqdm bars; no Spark: a download host needs neither Java
nor a cluster.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from conf import ConfigError, load_config
from conf.version import code_version

logger = logging.getLogger(__name__)

MULTISTREAM_JOB, PARTS_JOB = "articlesmultistreamdump", "articlesdump"
MOVIELENS = ("100k", "1m", "10m", "20m", "25m", "32m", "latest", "latest-small")
_DATE_LINK = re.compile(r'href="(\d{8})/?"')


class DownloadError(RuntimeError):
    """A download that cannot go on; the message names the URL or file and what to do."""


@dataclass(frozen=True)
class DumpFile:
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


def run_url(base: str, wiki: str, date: str) -> str:
    return f"{base.rstrip('/')}/{wiki}/{date}"


def job_files(status: dict, job: str, where: str) -> list[DumpFile]:
    """The files of `job` in a dumpstatus.json, or DownloadError saying what is there."""
    jobs = status.get("jobs") or {}
    if job not in jobs:
        raise DownloadError(f"{where}: no job {job!r} (jobs: {', '.join(sorted(jobs))}); "
                            "pick one with --job")
    entry = jobs[job]
    if entry.get("status") != "done":
        raise DownloadError(f"{where}: job {job!r} is {entry.get('status')!r}, not done; "
                            "wait for it or choose an older --date")
    files = []
    for name, meta in sorted((entry.get("files") or {}).items()):
        if (not isinstance(meta, dict) or "/" in name or name.startswith(".")
                or not isinstance(meta.get("sha1"), str) or not meta["sha1"]):
            raise DownloadError(f"{where}: job {job!r} lists {name!r} without a usable name "
                                "and SHA-1")
        size = meta.get("size")
        if isinstance(size, bool) or not isinstance(size, int | str) \
                or not str(size).isdigit():
            raise DownloadError(f"{where}: job {job!r} gives {name!r} the size {size!r}, not a "
                                "number of bytes; the status file is damaged, try another "
                                "--date or --mirror")
        files.append(DumpFile(name, int(size), meta["sha1"].lower()))
    if not files:
        raise DownloadError(f"{where}: job {job!r} lists no files")
    return files


def resolve_date(client: Client, base: str, wiki: str, date: str, job: str,
                 tries: int = 6) -> tuple[str, dict]:
    """(date, status) of the run `date`, or of the newest run whose `job` is done."""
    if date != "latest":
        if not re.fullmatch(r"\d{8}", date):
            raise DownloadError(f"--date must be latest or YYYYMMDD, got {date!r}")
        return date, client.json(f"{run_url(base, wiki, date)}/dumpstatus.json")
    listing_url = f"{base.rstrip('/')}/{wiki}/"
    dates = sorted(set(_DATE_LINK.findall(client.text(listing_url))), reverse=True)
    if not dates:
        raise DownloadError(f"{listing_url}: no dump runs listed; check --wiki (or --mirror)")
    for candidate in dates[:tries]:
        url = f"{run_url(base, wiki, candidate)}/dumpstatus.json"
        try:
            status = client.json(url)
        except DownloadError as e:
            logger.info("skipping %s: %s", candidate, e)
            continue
        if (status.get("jobs") or {}).get(job, {}).get("status") == "done":
            return candidate, status
        logger.info("skipping %s: job %s not done", candidate, job)
    raise DownloadError(f"{listing_url}: none of the newest {min(tries, len(dates))} runs "
                        f"has job {job!r} done; give --date")


def check_free_space(out: Path, files: list[DumpFile]) -> int:
    """Bytes still to fetch; DownloadError when the disk under `out` cannot hold them."""
    needed = 0
    for f in files:
        if (out / f.name).exists():
            continue
        part = out / f"{f.name}.part"
        needed += f.size - (part.stat().st_size if part.exists() else 0)
    free = shutil.disk_usage(out).free
    if needed > free:
        raise DownloadError(f"{out}: {needed / 1e9:.1f} GB still to download but only "
                            f"{free / 1e9:.1f} GB free; free space or choose another --out")
    return needed


SHA1_CACHE = ".wikifilms-sha1.json"


def _file_state(path: Path) -> list[int]:
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
    state = _file_state(path)
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


def fetch_to_part(client: Client, url: str, f: DumpFile, part: Path, chunk: int,
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


def download_file(client: Client, base_url: str, f: DumpFile, out: Path, chunk: int,
                  progress) -> str:
    """Fetch, verify and rename one file; 'present', 'downloaded' or 'downloaded twice'."""
    final, part = out / f.name, out / f"{f.name}.part"
    if final.exists():
        if final.stat().st_size != f.size:
            raise DownloadError(f"{final}: {final.stat().st_size} bytes, dumpstatus.json says "
                                f"{f.size}; it is not from this run: move it away and re-run")
        sha1 = sha1_of_file(final, chunk)
        if sha1 != f.sha1:
            raise DownloadError(f"{final}: SHA-1 {sha1}, dumpstatus.json says {f.sha1}; it is "
                                "damaged or not from this run: move it away and re-run")
        progress.skip(f)
        return "present"
    url = f"{base_url}/{f.name}"
    for attempt in (1, 2):
        progress.start(f)
        sha1 = fetch_to_part(client, url, f, part, chunk, progress)
        if sha1 == f.sha1:
            part.replace(final)
            remember_sha1(final, _file_state(final), sha1)  # after the rename: it moves ctime
            return "downloaded" if attempt == 1 else "downloaded twice"
        part.unlink()
        logger.warning("%s: SHA-1 %s, expected %s; fetching it again", f.name, sha1, f.sha1)
    raise DownloadError(f"{url}: SHA-1 mismatch twice ({sha1}, expected {f.sha1}); the mirror "
                        "serves a damaged file: try another --mirror")


class Progress:
    """Per-file and overall bars (bytes, rate, ETA) on stderr; silent when disabled."""

    def __init__(self, files: list[DumpFile], enabled: bool):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.total = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True,
                          unit_divisor=1024, desc="all files", position=0, disable=not enabled)
        self.file = None

    def start(self, f: DumpFile) -> None:
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

    def skip(self, f: DumpFile) -> None:
        self.total.update(f.size)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.total.close()


def download(wiki: str, date: str, out: str | Path, cfg, *, parts: bool = False,
             job: str | None = None, mirror: str | None = None, progress: bool = True) -> dict:
    """Download one dump run's article files into `out`; returns a summary."""
    d = cfg["download"]
    client = Client(d)
    base = mirror or d["base_url"]
    job = job or (PARTS_JOB if parts else MULTISTREAM_JOB)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    date, status = resolve_date(client, base, wiki, date, job)
    where = f"{run_url(base, wiki, date)}/dumpstatus.json"
    files = job_files(status, job, where)
    needed = check_free_space(out, files)
    logger.info("%s %s job %s: %d files, %.2f GB, %.2f GB to fetch", wiki, date, job,
                len(files), sum(f.size for f in files) / 1e9, needed / 1e9)
    bars = Progress(files, progress)
    results = {}
    try:
        for f in files:
            results[f.name] = download_file(client, run_url(base, wiki, date), f, out,
                                            d["chunk_bytes"], bars)
    finally:
        bars.close()
    return {"wiki": wiki, "date": date, "job": job, "out": str(out),
            "files": {f.name: {"size": f.size, "sha1": f.sha1, "result": results[f.name]}
                      for f in files},
            "seconds": round(time.perf_counter() - started, 3)}


def _zip_problem(path: Path, md5: str | None, chunk: int) -> str | None:
    """Why the zip at `path` is not the published one (MD5, or a member's CRC), or None."""
    import zipfile
    import zlib

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
                            f"{', '.join(MOVIELENS)}) or --mirror") from e
    if not (length or "").isdigit():
        raise DownloadError(f"{url}: the server gives no size; try another --mirror")
    return int(length)


def download_movielens(release: str, out: str | Path, cfg, *, mirror: str | None = None,
                       progress: bool = True) -> dict:
    """Fetch and check GroupLens' ml-RELEASE.zip into `out` (module docstring)."""
    if release not in MOVIELENS:
        raise DownloadError(f"--movielens {release!r}: one of {', '.join(MOVIELENS)}")
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
        f = DumpFile(name, _content_length(client, url), "")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", metavar="RELEASE", help="a MovieLens release instead of a "
                        f"dump: one of {', '.join(MOVIELENS)}")
    parser.add_argument("--wiki", default="enwiki", help="wiki database name (default enwiki)")
    parser.add_argument("--date", default="latest", help="latest (default) or YYYYMMDD")
    parser.add_argument("--out", required=True, help="folder for the dump files")
    parser.add_argument("--parts", action="store_true",
                        help=f"the partition files (job {PARTS_JOB}) instead of the multistream")
    parser.add_argument("--job", help="another job of dumpstatus.json")
    parser.add_argument("--mirror", help="base URL of a mirror (the part before /<wiki>/<date>/, "
                        "or GroupLens' folder of zips)")
    parser.add_argument("--config", help="overlay: local, test, cluster or a path")
    parser.add_argument("-p", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override one setting")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        if args.movielens:
            summary = download_movielens(args.movielens, args.out, cfg, mirror=args.mirror,
                                         progress=not args.quiet)
        else:
            summary = download(args.wiki, args.date, args.out, cfg, parts=args.parts,
                               job=args.job, mirror=args.mirror, progress=not args.quiet)
    except (ConfigError, DownloadError, OSError) as e:
        print(f"download: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
