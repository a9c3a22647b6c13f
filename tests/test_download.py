"""download against a loopback server serving a generated dump and its
dumpstatus.json: a complete download, cut-off and resumed ones, checksum failures, a 404,
5xx answers and a server that stalls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conf import load_config
from download.cli import main
from download.dumps import MULTISTREAM_JOB, PARTS_JOB, download
from download.http import SHA1_CACHE, DownloadError
from sample_dump.dump import generate
from tests.dump_server import DumpServer

WIKI, DATE, NEWER = "enwiki", "20261101", "20261120"


@pytest.fixture(scope="module")
def dumps(tmp_path_factory) -> dict[str, list[Path]]:
    """A small multistream dump (+ index) and a partitioned one, as the sample writes them."""
    root = tmp_path_factory.mktemp("dumps")
    sample = dict(load_config("test")["sample"])
    generate(root / "multi", 30, 5, "multistream", sample)
    generate(root / "parts", 30, 5, "parts", sample, parts=3)
    return {"multi": sorted((root / "multi").glob("*.bz2")),
            "parts": sorted((root / "parts").glob("*.bz2"))}


@pytest.fixture
def server(dumps):
    with DumpServer() as s:
        s.add_run(WIKI, DATE, {MULTISTREAM_JOB: dumps["multi"], PARTS_JOB: dumps["parts"]})
        yield s


@pytest.fixture(scope="module")
def dcfg():
    return load_config("test")


def fetch(server, out: Path, cfg, **kwargs) -> dict:
    return download(WIKI, kwargs.pop("date", DATE), out, cfg, mirror=server.url,
                    progress=False, **kwargs)


def file_gets(server, name: str) -> list[int]:
    return [start for path, start in server.requests if path.endswith("/" + name)]


def assert_same_files(out: Path, expected: list[Path]) -> None:
    assert sorted(p.name for p in out.iterdir() if p.name != SHA1_CACHE) == sorted(
        p.name for p in expected)
    for p in expected:
        assert (out / p.name).read_bytes() == p.read_bytes()


def test_a_complete_download_of_the_latest_finished_run(server, dumps, dcfg, tmp_path):
    # A newer run whose articles job is still running: `latest` must pass over it.
    server.add_run(WIKI, NEWER, {MULTISTREAM_JOB: dumps["multi"][:1]}, status="in-progress")
    summary = fetch(server, tmp_path, dcfg, date="latest")
    assert summary["date"] == DATE and summary["job"] == MULTISTREAM_JOB
    names = [p.name for p in dumps["multi"]]
    assert any(n.endswith("multistream-index.txt.bz2") for n in names) and len(names) == 2
    assert_same_files(tmp_path, dumps["multi"])
    assert {f["result"] for f in summary["files"].values()} == {"downloaded"}
    # A finished file is not fetched again.
    before = len(server.requests)
    again = fetch(server, tmp_path, dcfg)
    assert {f["result"] for f in again["files"].values()} == {"present"}
    assert [p for p, _ in server.requests[before:]] == [f"/{WIKI}/{DATE}/dumpstatus.json"]


def test_parts_download_the_partition_files(server, dumps, dcfg, tmp_path):
    summary = fetch(server, tmp_path, dcfg, parts=True)
    assert summary["job"] == PARTS_JOB and len(summary["files"]) == 3
    assert_same_files(tmp_path, dumps["parts"])


def test_a_cut_off_download_resumes_with_a_range_request(server, dumps, dcfg, tmp_path):
    big = dumps["multi"][0] if dumps["multi"][0].stat().st_size > 50_000 else dumps["multi"][1]
    path = f"/{WIKI}/{DATE}/{big.name}"
    server.cut[path] = [30_000, 1]
    fetch(server, tmp_path, dcfg)
    assert_same_files(tmp_path, dumps["multi"])
    assert file_gets(server, big.name) == [0, 30_000]


def test_a_part_file_left_by_a_killed_run_is_resumed(server, dumps, dcfg, tmp_path):
    big = max(dumps["multi"], key=lambda p: p.stat().st_size)
    half = big.stat().st_size // 2
    (tmp_path / f"{big.name}.part").write_bytes(big.read_bytes()[:half])
    fetch(server, tmp_path, dcfg)
    assert_same_files(tmp_path, dumps["multi"])
    assert file_gets(server, big.name) == [half]


def test_a_corrupted_byte_is_caught_and_fetched_again_once(server, dumps, dcfg, tmp_path):
    name = dumps["multi"][0].name
    server.corrupt[f"/{WIKI}/{DATE}/{name}"] = 1
    summary = fetch(server, tmp_path, dcfg)
    assert summary["files"][name]["result"] == "downloaded twice"
    assert_same_files(tmp_path, dumps["multi"])


def test_a_file_corrupt_twice_fails_and_is_not_kept(server, dumps, dcfg, tmp_path, capsys):
    name = dumps["multi"][0].name
    server.corrupt[f"/{WIKI}/{DATE}/{name}"] = 2
    code = main(["--out", str(tmp_path), "--date", DATE, "--mirror", server.url, "-q",
                 "--config", "test"])
    err = capsys.readouterr().err
    assert code == 2 and "SHA-1 mismatch twice" in err and name in err
    assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()
    assert len(file_gets(server, name)) == 2


def test_a_missing_file_or_run_is_a_404_with_a_clear_message(server, dumps, dcfg, tmp_path,
                                                             capsys):
    del server.files[f"/{WIKI}/{DATE}/{dumps['multi'][0].name}"]
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server, tmp_path, dcfg)
    code = main(["--out", str(tmp_path), "--date", "20200101", "--mirror", server.url, "-q",
                 "--config", "test"])
    err = capsys.readouterr().err
    assert code == 2 and "20200101/dumpstatus.json: HTTP 404" in err and "--date" in err


def test_5xx_answers_are_retried_with_back_off(server, dumps, dcfg, tmp_path):
    name = dumps["multi"][0].name
    server.errors[f"/{WIKI}/{DATE}/{name}"] = [503, 500]
    fetch(server, tmp_path, dcfg)
    assert_same_files(tmp_path, dumps["multi"])
    assert len(file_gets(server, name)) == 3


def test_a_stall_times_out_and_resumes(server, dumps, dcfg, tmp_path):
    big = max(dumps["multi"], key=lambda p: p.stat().st_size)
    server.stall[f"/{WIKI}/{DATE}/{big.name}"] = [20_000, 3.0, 1]  # timeout_s is 0.5 in test
    fetch(server, tmp_path, dcfg)
    assert_same_files(tmp_path, dumps["multi"])
    starts = file_gets(server, big.name)
    assert starts[0] == 0 and len(starts) == 2 and starts[1] >= 20_000 - 4096


def test_a_server_that_keeps_stalling_fails_and_keeps_the_part(server, dumps, dcfg, tmp_path):
    big = max(dumps["multi"], key=lambda p: p.stat().st_size)
    server.stall[f"/{WIKI}/{DATE}/{big.name}"] = [0, 3.0, 10]
    with pytest.raises(DownloadError, match="no progress after"):
        fetch(server, tmp_path, dcfg)
    assert (tmp_path / f"{big.name}.part").exists() and not (tmp_path / big.name).exists()


def test_not_enough_disk_space_fails_before_downloading(server, dcfg, tmp_path, monkeypatch):
    import shutil

    import download.dumps as dl

    monkeypatch.setattr(dl.shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(DownloadError, match="free"):
        fetch(server, tmp_path, dcfg)
    assert list(tmp_path.iterdir()) == []
    assert all(p.endswith("dumpstatus.json") for p, _ in server.requests)


def test_a_job_that_is_not_done_or_absent_is_refused(server, dumps, dcfg, tmp_path):
    server.add_run(WIKI, NEWER, {MULTISTREAM_JOB: dumps["multi"]}, status="in-progress")
    with pytest.raises(DownloadError, match="is 'in-progress', not done"):
        fetch(server, tmp_path, dcfg, date=NEWER)
    with pytest.raises(DownloadError, match="no job 'nosuchjob'.*articlesdump"):
        fetch(server, tmp_path, dcfg, job="nosuchjob")


def test_the_cli_prints_a_summary(server, dumps, tmp_path, capsys):
    code = main(["--out", str(tmp_path), "--mirror", server.url, "-q", "--config", "test"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["date"] == DATE
    assert sorted(summary["files"]) == sorted(p.name for p in dumps["multi"])
    (agent,) = server.user_agents
    assert agent.startswith("wikifilms/") and "{version}" not in agent


def edit_status(server, edit) -> None:
    path = f"/{WIKI}/{DATE}/dumpstatus.json"
    status = json.loads(server.files[path])
    edit(status["jobs"][MULTISTREAM_JOB]["files"])
    server.files[path] = json.dumps(status).encode()


def test_a_size_that_is_not_a_number_is_one_line(server, dumps, tmp_path, capsys):
    name = dumps["multi"][0].name
    edit_status(server, lambda files: files[name].update(size="12 kB"))
    code = main(["--out", str(tmp_path), "--date", DATE, "--mirror", server.url, "-q",
                 "--config", "test"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"gives {name!r} the size '12 kB', not a number of bytes" in err


def test_a_server_sending_more_than_declared_is_stopped_at_the_declared_size(
        server, dumps, dcfg, tmp_path):
    big = max(dumps["multi"], key=lambda p: p.stat().st_size)
    declared = big.stat().st_size - 5000
    edit_status(server, lambda files: files[big.name].update(size=declared))
    with pytest.raises(DownloadError, match="sends more than the .* bytes dumpstatus.json says"):
        fetch(server, tmp_path, dcfg)
    assert (tmp_path / f"{big.name}.part").stat().st_size == declared
    assert not (tmp_path / big.name).exists()


def test_a_present_file_is_checked_by_sha1_once_per_version(server, dumps, dcfg, tmp_path,
                                                            monkeypatch):
    import download.http as dl

    fetch(server, tmp_path, dcfg)
    hashed = []
    sha1_of = dl._sha1_of
    monkeypatch.setattr(dl, "_sha1_of", lambda path, chunk: hashed.append(path.name)
                        or sha1_of(path, chunk))
    summary = fetch(server, tmp_path, dcfg)  # hashed as they were downloaded: not again
    assert {f["result"] for f in summary["files"].values()} == {"present"} and hashed == []
    (tmp_path / SHA1_CACHE).unlink()  # a file put there by hand, say: hashed once
    fetch(server, tmp_path, dcfg)
    fetch(server, tmp_path, dcfg)
    assert sorted(hashed) == sorted(p.name for p in dumps["multi"])
    # Same size, other content, modification time put back: caught, and left alone.
    big = max(dumps["multi"], key=lambda p: p.stat().st_size)
    target = tmp_path / big.name
    stat = target.stat()
    with open(target, "r+b") as f:
        f.seek(stat.st_size // 2)
        f.write(b"\0" * 64)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(DownloadError, match=f"{big.name}: SHA-1 .* damaged or not from this"):
        fetch(server, tmp_path, dcfg)
    assert target.stat().st_size == stat.st_size


def movielens_zip(tmp_path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(tmp_path / "ml-100k.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ml-100k/u.data", "".join(f"{u}\t{i}\t{1 + (u + i) % 5}\t88{u}{i}\n"
                                             for u in range(1, 60) for i in range(1, 80)))
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995|||0|0|0|1\n")
    return (tmp_path / "ml-100k.zip").read_bytes()


def test_a_movielens_release_is_fetched_resumed_and_checked(server, dcfg, tmp_path):
    import hashlib

    from download.movielens import download_movielens

    data = movielens_zip(tmp_path)
    path = "/datasets/movielens/ml-100k.zip"
    server.files[path] = data
    server.files[path + ".md5"] = f"{hashlib.md5(data).hexdigest()}  ml-100k.zip\n".encode()
    server.cut[path] = [len(data) // 3, 1]  # the first body is cut short: resumed ...
    server.corrupt[path] = 2  # ... with a flipped byte (its middle): fetched once more
    out = tmp_path / "out"
    mirror = f"{server.url}/datasets/movielens"
    summary = download_movielens("100k", out, dcfg, mirror=mirror, progress=False)
    assert summary["result"] == "downloaded twice" and summary["md5"] != "none"
    assert (out / "ml-100k.zip").read_bytes() == data
    assert not (out / "ml-100k.zip.part").exists()
    assert download_movielens("100k", out, dcfg, mirror=mirror,
                              progress=False)["result"] == "present"
    # Without a published MD5, the members' CRCs still catch a damaged zip in place.
    del server.files[path + ".md5"]
    damaged = bytearray(data)
    damaged[60] ^= 0xFF
    (out / "ml-100k.zip").write_bytes(bytes(damaged))
    with pytest.raises(DownloadError, match="ml-100k.zip: .*move it away"):
        download_movielens("100k", out, dcfg, mirror=mirror, progress=False)
    with pytest.raises(DownloadError, match="--movielens '99k': one of 100k"):
        download_movielens("99k", out, dcfg, mirror=mirror, progress=False)
