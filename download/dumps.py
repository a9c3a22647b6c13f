"""A Wikipedia dump run: its files listed by `dumpstatus.json`, fetched and checked.

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
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from download.http import (
    Client,
    DownloadError,
    Progress,
    RemoteFile,
    fetch_to_part,
    file_state,
    remember_sha1,
    sha1_of_file,
)

logger = logging.getLogger(__name__)

MULTISTREAM_JOB, PARTS_JOB = "articlesmultistreamdump", "articlesdump"
_DATE_LINK = re.compile(r'href="(\d{8})/?"')


def run_url(base: str, wiki: str, date: str) -> str:
    return f"{base.rstrip('/')}/{wiki}/{date}"


def job_files(status: dict, job: str, where: str) -> list[RemoteFile]:
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
        files.append(RemoteFile(name, int(size), meta["sha1"].lower()))
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


def check_free_space(out: Path, files: list[RemoteFile]) -> int:
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


def download_file(client: Client, base_url: str, f: RemoteFile, out: Path, chunk: int,
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
            remember_sha1(final, file_state(final), sha1)  # after the rename: it moves ctime
            return "downloaded" if attempt == 1 else "downloaded twice"
        part.unlink()
        logger.warning("%s: SHA-1 %s, expected %s; fetching it again", f.name, sha1, f.sha1)
    raise DownloadError(f"{url}: SHA-1 mismatch twice ({sha1}, expected {f.sha1}); the mirror "
                        "serves a damaged file: try another --mirror")


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
