"""`index serve` without a browser: the API answers what `index query --json` prints, the
reasons add up to the link cosine, bad requests get a 4xx line (never a traceback), and the
server refuses what it cannot serve."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from bench.synthetic_run import add_film_links, write_run, write_tables_with_redirects
from conf import load_config
from index.build import build_index
from index.cli import main
from index.folder import IndexFolderError
from tests.serving import serving

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from index.serve import create_app  # noqa: E402

SCRIPT_TITLE = '<script>window.__injected = 1</script> (film)'
FILMS = ["Star Wars (film)", "The Empire Strikes Back", "Return of the Jedi",
         "Heat (1995 film)", "Heat (1986 film)", "Amélie", "Alien (film)", "Aliens (film)",
         SCRIPT_TITLE]
LINKS = ["George Lucas", "Mark Hamill", "Harrison Ford", "Michael Mann", "Paris",
         "Ridley Scott", "Sigourney Weaver", "United States"]
# (film, link, count): the Star Wars films share Lucas, Hamill and Ford; every film links
# the United States (it weighs nothing: idf log(9/9) = 0).
FILM_LINKS = [(0, 0, 3), (0, 1, 2), (0, 2, 2), (1, 0, 1), (1, 1, 2), (1, 2, 1), (2, 0, 1),
              (2, 1, 1), (3, 3, 2), (3, 2, 1), (4, 3, 1), (5, 4, 2), (6, 5, 2), (6, 6, 2),
              (7, 6, 2), (8, 4, 1)] + [(f, 7, 1) for f in range(9)]
REDIRECTS = {"Star Wars Episode IV": "Star Wars (film)"}


def unit_circle(angles: list[float]) -> np.ndarray:
    radians = np.deg2rad(np.array(angles, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians), np.full(len(radians), 0.01)], 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("serve")
    tables = add_film_links(write_tables_with_redirects(root / "tables", REDIRECTS), FILM_LINKS)
    films = unit_circle([0, 10, 21, 90, 103, 187, 268, 275, 190])
    film_map = (films[:, :2] * 10).astype(np.float32)
    run = write_run(root / "run", films, FILMS, unit_circle([0, 5, 8, 95, 180, 260, 270, 45]),
                    LINKS, tables=tables, years=[1977, 1980, 1983, 1995, 1986, 2001, 1979,
                                                 1986, 2020],
                    directors=["George Lucas", "Irvin Kershner", "Richard Marquand",
                               "Michael Mann", "Kevin Hooks", "Jean-Pierre Jeunet",
                               "Ridley Scott", "James Cameron", "<b>Nobody</b>"],
                    film_map=film_map)
    index = root / "index"
    build_index(run, index, load_config("test"))
    return {"root": root, "index": index, "run": run, "map": film_map, "tables": tables}


@pytest.fixture(scope="module")
def client(world) -> TestClient:
    return TestClient(create_app(world["index"]), raise_server_exceptions=False)


def cli_json(capsys, *argv: str) -> list[dict]:
    assert main(["query", *argv, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_api_answers_what_the_cli_prints(world, client, capsys):
    index = str(world["index"])
    for title, k in (("Star Wars (film)", 3), ("Heat (1995 film)", 8), (SCRIPT_TITLE, 2)):
        body = client.get(f"/api/similar/{quote(title)}", params={"k": k}).json()
        assert body["neighbours"] == cli_json(capsys, "--index", index, title, "-k", str(k))
        assert body["query"]["title"] == title
    body = client.get("/api/recommend", params=[("liked", "Alien (film)"),
                                                ("liked", "Heat (1995 film)"), ("k", 4)]).json()
    assert body["neighbours"] == cli_json(capsys, "--index", index, "Alien (film)",
                                          "Heat (1995 film)", "-k", "4")
    assert [q["title"] for q in body["query"]] == ["Alien (film)", "Heat (1995 film)"]
    body = client.get(f"/api/links/{quote('George Lucas')}", params={"k": 3}).json()
    assert body["neighbours"] == cli_json(capsys, "--index", index, "--links", "George Lucas",
                                          "-k", "3")


def test_reasons_are_the_shared_links_that_weigh_most(client):
    body = client.get(f"/api/similar/{quote('Star Wars (film)')}", params={"k": 8}).json()
    first = body["neighbours"][0]
    assert first["title"] == "The Empire Strikes Back"
    reasons = body["reasons"][str(first["id"])]
    assert [r["title"] for r in reasons] == ["Mark Hamill", "George Lucas", "Harrison Ford"]
    weights = [r["weight"] for r in reasons]
    assert weights == sorted(weights, reverse=True) and weights[-1] > 0
    # All shared links listed: their shares add up to the two films' link cosine.
    assert sum(weights) == pytest.approx(first["colink_cosine"], abs=1e-5)
    # A link every film has weighs nothing and is no reason; nothing shared, no reasons.
    assert all(r["title"] != "United States" for rs in body["reasons"].values() for r in rs)
    amelie = [n for n in body["neighbours"] if n["title"] == "Amélie"][0]
    assert body["reasons"][str(amelie["id"])] == []


def test_suggestions_forgive_accents_redirects_qualifiers_and_misspellings(client):
    def titles(q: str) -> tuple[dict | None, list[str]]:
        body = client.get("/api/films", params={"q": q}).json()
        return body["match"], [s["title"] for s in body["suggestions"]]

    match, found = titles("amelie")
    assert match["title"] == "Amélie" and match["how"] == "case-folded title"
    match, _ = titles("Star Wars Episode IV")
    assert match["title"] == "Star Wars (film)" and match["how"] == "redirect"
    match, found = titles("Heat")  # two films by that name without their qualifiers
    assert match is None and set(found[:2]) == {"Heat (1995 film)", "Heat (1986 film)"}
    match, found = titles("the emp")  # typed so far
    assert match is None and found[0] == "The Empire Strikes Back"
    match, found = titles("Retrun of the Jedy")
    assert match is None and found[0] == "Return of the Jedi"
    assert titles("  ") == (None, [])


def test_bad_requests_get_a_4xx_with_a_message_never_a_traceback(client):
    cases = {
        "/api/similar/Star%20Wars%20(film)?k=0": 400,
        "/api/similar/Star%20Wars%20(film)?k=many": 400,
        "/api/similar/Star%20Wars%20(film)?k=101": 400,
        "/api/similar/" + "x" * 300: 400,
        "/api/films?q=" + "y" * 300: 400,
        "/api/similar/%20": 400,
        "/api/similar/Heat": 404,  # ambiguous: the candidates come back
        "/api/similar/Star%20Warz": 404,
        "/api/film/9": 404,
        "/api/film/-1": 404,
        "/api/film/abc": 400,
        "/api/recommend": 400,
        "/api/recommend?liked=Alien%20(film)&rated=Alien%20(film)=5": 400,
        "/api/recommend?rated=Alien%20(film)=5": 404,  # no ranking model in this index
        "/api/user/1": 404,
        "/api/nothing": 404,
        "/static/../manifest.json": 404,
    }
    for path, status in cases.items():
        response = client.get(path)
        assert response.status_code == status, (path, response.text)
        body = response.json()
        assert set(body) <= {"error", "suggestions", "candidates"} and body["error"], path
        assert "Traceback" not in response.text and "/tmp" not in response.text, path
    body = client.get("/api/similar/Star%20Warz").json()
    assert body["suggestions"] == ["Star Wars (film)"]
    assert {c["title"] for c in client.get("/api/similar/Heat").json()["candidates"]} == {
        "Heat (1995 film)", "Heat (1986 film)"}
    assert client.post("/api/info").status_code == 405  # read-only
    assert client.delete("/api/similar/Alien%20(film)").status_code == 405


def test_titles_are_data_never_markup(client):
    """The title holding <script> comes back as JSON data; the page puts titles on screen
    with textContent only, and forbids inline scripts (a browser test checks it renders)."""
    response = client.get("/api/films", params={"q": "<script>"})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["suggestions"][0]["title"] == SCRIPT_TITLE
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text.replace('<script src="/static/app.js" defer></script>', "")
    app_js = client.get("/static/app.js").text
    assert "innerHTML" not in app_js and "insertAdjacentHTML" not in app_js


def test_the_map_is_the_runs_coordinates_by_film_id(world, client):
    response = client.get("/api/map")
    assert response.status_code == 200 and response.headers["x-films"] == str(len(FILMS))
    xy = np.frombuffer(response.content, dtype="<f4").reshape(-1, 2)
    np.testing.assert_array_equal(xy, world["map"])
    info = client.get("/api/info").json()
    assert info == {**info, "films": len(FILMS), "links": len(LINKS), "map": True,
                    "reasons": True, "ranking": False}


def test_an_index_without_a_map_or_tables_still_serves_films(world, tmp_path):
    run = write_run(tmp_path / "run", unit_circle([0, 10, 20, 30, 40]),
                    [f"Film {i}" for i in range(5)], unit_circle([0, 90]), ["A", "B"])
    build_index(run, tmp_path / "index", load_config("test"))
    client = TestClient(create_app(tmp_path / "index"))
    assert client.get("/api/map").status_code == 404
    assert "no map" in client.get("/api/map").json()["error"]
    body = client.get("/api/similar/Film%202", params={"k": 2}).json()
    assert [n["title"] for n in body["neighbours"]] == ["Film 1", "Film 3"]
    assert body["reasons"] == {str(n["id"]): [] for n in body["neighbours"]}
    assert client.get("/api/info").json()["map"] is False


def test_a_damaged_index_is_refused_before_serving(world, tmp_path, capsys):
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(world["index"], copy)
    with open(copy / "films_map.npy", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x7f")
    with pytest.raises(IndexFolderError, match="films_map.npy"):
        create_app(copy)
    assert main(["serve", "--index", str(copy), "--port", "0"]) == 2
    assert "films_map.npy" in capsys.readouterr().err


def test_a_port_in_use_is_one_line(world, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--index", str(world["index"]), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert main(["serve", "--index", str(world["index"]), "--port", "70000"]) == 2


def test_only_local_host_names_are_answered_on_localhost(world):
    from index.serve import LOOPBACK_HOSTS

    app = create_app(world["index"], allowed_hosts=LOOPBACK_HOSTS)
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/info").status_code == 200
    # A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) is refused.
    assert TestClient(app, base_url="http://evil.example").get("/api/info").status_code == 400




def test_an_unexpected_failure_is_a_500_line_and_logged_not_a_traceback(client, monkeypatch,
                                                                       caplog):
    from index import answers

    def broken(*args, **kwargs):
        raise RuntimeError("a bug deep inside")

    monkeypatch.setattr(answers, "liked", broken)
    response = client.get(f"/api/similar/{quote('Star Wars (film)')}")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (the server's log has the details)"}
    assert "a bug deep inside" in caplog.text  # for whoever runs the server


def test_an_ipv6_host_is_given_as_in_a_url():
    from index.serve import listen

    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as e:
        pytest.skip(f"no IPv6 loopback on this machine: {e}")
    with listen("[::1]", 0) as sock:
        assert sock.getsockname()[0] == "::1"


def fetch(url: str) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of a GET, 4xx and 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


# Issue 34: with heavy requests running, light ones waited behind them (info 44 -> 216 ms
# p50) and latency grew without bound as requests queued.
def test_heavy_answers_queue_apart_from_light_ones_and_past_the_queue_get_503(world,
                                                                            monkeypatch):
    from index import answers
    from index.serve import HeavyWork

    entered, release = threading.Event(), threading.Event()
    liked = answers.liked

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return liked(*args, **kwargs)

    monkeypatch.setattr(answers, "liked", held)
    heavy = HeavyWork(workers=1, max_waiting=1)
    results = {}
    with serving(world["index"], heavy=heavy) as url:
        similar = f"{url}api/similar/{quote('Star Wars (film)')}?k=2"
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, fetch(similar)))
                   for n in ("running", "waiting")]
        threads[0].start()
        assert entered.wait(30)
        threads[1].start()
        deadline = time.monotonic() + 30
        while heavy.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, headers, body = fetch(similar)  # the worker busy, the queue full
        assert status == 503 and headers["retry-after"] == "1" and "busy" in body["error"]
        status, _, body = fetch(f"{url}api/info")  # light: answered while both wait
        assert status == 200 and body["films"] == len(FILMS) and not results
        status, _, _ = fetch(f"{url}api/film/3")
        assert status == 200 and not results
        release.set()
        for thread in threads:
            thread.join(30)
    assert [results[n][0] for n in ("running", "waiting")] == [200, 200]
    assert heavy.pending == 0


# Issue 34: after `index build --overwrite` the server kept serving the deleted index (its
# 15 memory maps held) until restarted.
def test_a_rebuilt_index_is_served_without_a_restart_and_the_old_one_freed(world, tmp_path):
    import gc

    index = tmp_path / "index"
    build_index(world["run"], index, load_config("test"))
    app = create_app(index, check_every_s=0.0)
    client = TestClient(app)
    assert client.get("/api/info").json()["films"] == len(FILMS)
    old = app.state.live.explorer.id
    assert any(str(index / "films.ann") in line
               for line in Path("/proc/self/maps").read_text().splitlines())
    run = write_run(tmp_path / "run", unit_circle([0, 10, 20]), ["A", "B", "C"],
                    unit_circle([0, 90]), ["X", "Y"])
    build_index(run, index, load_config("test"), overwrite=True)
    assert client.get("/api/info").json()["films"] == 3
    assert app.state.live.explorer.id != old
    assert [n["title"] for n in client.get("/api/similar/A?k=1").json()["neighbours"]] == ["B"]
    gc.collect()
    held = [line for line in Path("/proc/self/maps").read_text().splitlines()
            if str(tmp_path) in line and "(deleted)" in line]
    assert held == []


def test_a_folder_caught_mid_swap_keeps_the_index_being_served(world, tmp_path):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(world["index"], index)
    app = create_app(index, check_every_s=0.0)
    client = TestClient(app)
    (index / "manifest.json").rename(tmp_path / "aside.json")  # between the two renames
    assert client.get("/api/info").json()["films"] == len(FILMS)
    body = client.get(f"/api/similar/{quote('Star Wars (film)')}", params={"k": 1}).json()
    assert body["neighbours"][0]["title"] == "The Empire Strikes Back"
