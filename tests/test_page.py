"""The web page in a real headless browser (Debian's chromium driven by Playwright) over an
index the demo's commands build on a small sample dump: search a misspelt title, pick the
suggestion, see the neighbours and their reasons, click a film on the map, fill the basket
and get films for it. Screenshots go to build/screenshots/ (or WIKIFILMS_SCREENSHOTS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conf import load_config
from tests.serving import serving

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = (os.environ.get("WIKIFILMS_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
SCREENSHOTS = Path(os.environ.get("WIKIFILMS_SCREENSHOTS", ROOT / "build" / "screenshots"))

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium to drive: `apt-get install chromium` (.ci/run "
    "installs it) or set WIKIFILMS_CHROMIUM to a Chromium binary")
playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory) -> dict:
    """`make demo`'s commands on a small sample: dump, tables, a run with its map, index."""
    from index.build import build_index
    from sample_dump.dump import generate
    from spark_jobs.inputs import resolve_local
    from spark_jobs.parse_dump import run as parse
    from trainer.train import run as train

    root = tmp_path_factory.mktemp("demo")
    cfg = load_config("test", ["export.map=true", "sample.films=150", "train.epochs=4"])
    summary = generate(root / "dump", cfg["sample"]["films"], 7, "multistream", cfg["sample"])
    dumps = [f for f in summary["files"] if f.endswith("multistream.xml.bz2")]
    parse(spark, cfg, resolve_local(dumps), str(root / "tables"))
    train(str(root / "tables"), root / "run", cfg)
    build_index(root / "run", root / "index", cfg)
    return {"index": root / "index", "map": np.load(root / "index" / "films_map.npy")}


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def wait_until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JavaScript expression until it is true (Playwright's wait_for_function
    evaluates through `new Function`, which the page's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.05)


def shows(page, selector: str, text: str) -> None:
    playwright_api.expect(page.locator(selector)).to_have_text(text)


def misspell(title: str) -> str:
    """Two inner letters of the title's longest word swapped: what a hurried typist does."""
    words = title.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    w = words[longest]
    words[longest] = w[0] + w[2] + w[1] + w[3:]
    return " ".join(words).lower()


def api(url: str, path: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + path) as response:
        return json.loads(response.read())


def test_search_neighbours_map_and_basket_in_a_browser(demo, browser):
    from urllib.parse import quote

    with serving(demo["index"]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        wait_until(page, "window.wikifilmsMap && window.wikifilmsMap.ready()")

        # A film with a word long enough to misspell, and several neighbours sharing links.
        films = api(url, "/api/info")["films"]
        target = next(f for f in (api(url, f"/api/film/{i}") for i in range(films))
                      if max(len(w) for w in f["title"].split()) >= 6
                      and "(" not in f["title"])
        page.fill("#search", misspell(target["title"]))
        page.wait_for_selector("#suggestions li")
        shown = page.locator("#suggestions li .title").all_text_contents()
        assert target["title"] in shown, (misspell(target["title"]), shown)
        page.locator("#suggestions li", has_text=target["title"]).first.click()
        shows(page, "#film-title", target["title"])
        rows = page.locator("#neighbours li")
        assert rows.count() == 10
        expected = api(url, f"/api/similar/{quote(target['title'])}?k=10")
        assert rows.locator(".answer-title").all_text_contents() == [
            n["title"] for n in expected["neighbours"]]
        reasons = page.locator("#neighbours .why").all_text_contents()
        assert reasons and all(r.startswith("shares: ") for r in reasons)
        first_reasons = expected["reasons"][str(expected["neighbours"][0]["id"])]
        assert rows.first.locator(".why").text_content() == "shares: " + ", ".join(
            r["title"] for r in first_reasons)

        # A click on the map selects the film drawn there (the most isolated one: no other
        # point within the click's reach).
        xy = demo["map"]
        gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
        lonely = int(np.argmax(gaps.min(axis=1)))
        lonely_title = api(url, f"/api/film/{lonely}")["title"]
        x, y = page.evaluate(f"window.wikifilmsMap.pagePosition({lonely})")
        page.mouse.move(x, y)
        page.wait_for_selector("#tooltip:not([hidden])")
        assert page.text_content("#tooltip") == lonely_title
        page.mouse.click(x, y)
        shows(page, "#film-title", lonely_title)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "page-film.png"))

        # Two films into the basket, then films for someone who liked both.
        liked = page.locator("#neighbours li").nth(0)
        liked_titles = [liked.locator(".answer-title").text_content()]
        liked.locator("button.add").click()
        page.click("#like-film")
        liked_titles.append(lonely_title)
        assert page.locator("#basket li").count() == 2
        page.click("#recommend")
        page.wait_for_selector("#recommendations li")
        got = page.locator("#recommendations .answer-title").all_text_contents()
        query = "&".join(f"liked={quote(t)}" for t in liked_titles)
        assert got == [n["title"] for n in api(url, f"/api/recommend?{query}&k=10")[
            "neighbours"]]
        assert not set(got) & set(liked_titles)

        page.screenshot(path=str(SCREENSHOTS / "page-basket.png"))
        assert not errors, errors
        page.close()


def test_a_title_holding_markup_shows_as_text(browser, tmp_path):
    from bench.synthetic_run import write_run
    from index.build import build_index

    title = '<img src=x onerror="window.__injected=1"><script>window.__injected=2</script>'
    titles = [title, "Plain Film", "Other Film", "Third Film", "Fourth Film"]
    rng = np.random.default_rng(0)
    run = write_run(tmp_path / "run", rng.standard_normal((5, 4)), titles,
                    rng.standard_normal((3, 4)), ["A", "B", "C"],
                    directors=["<b>bold</b>"] * 5, film_map=rng.standard_normal((5, 2)))
    build_index(run, tmp_path / "index", load_config("test"))
    with serving(tmp_path / "index") as url:
        page = browser.new_page()
        page.goto(url)
        page.fill("#search", "<img")
        page.wait_for_selector("#suggestions li")
        assert page.locator("#suggestions li .title").first.text_content() == title
        page.locator("#suggestions li").first.click()
        shows(page, "#film-title", title)
        assert page.text_content("#film-facts") == "<b>bold</b>"
        assert page.evaluate("window.__injected") is None
        assert page.locator("#side img, #side script, #side b").count() == 0
        page.close()


def test_the_serve_command_prints_its_address_and_answers(demo):
    process = subprocess.Popen(
        [sys.executable, "-m", "index", "serve", "--index", str(demo["index"]), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        assert line.startswith("index: serving ") and "http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split()[0]
        info = api(url, "/api/info")
        assert info["films"] > 100 and info["map"] is True
    finally:
        process.terminate()
        process.wait(10)
