"""Web page benchmark: `index serve` on the full-size synthetic index, API and page.

    python -m bench.serve [--films 150000] [--queries 200]

The index (built once, cached under data/bench/): 150,000 x 64 clustered film vectors
(bench.synthetic_run.clustered_vectors, as bench.index), 300,000 links, each film linking
30 links of its cluster's 300 and 10 drawn from all links by popularity (Zipf), so "films
like X" is re-ranked by the films' link vectors and has reasons; the map is the trainer's
own t-SNE of the vectors (trainer.export.map_coordinates, timed here once).

Measured in one run:
  start     `python -m index serve` from process start to its address printed (the index
            opened and checked), beside `python -m index query` answering one title (the
            CLI's cold start: what each answer cost before the server)
  api       milliseconds per answer over HTTP (median, 95th percentile) for similar,
            suggestions (a prefix, a misspelling), recommend (3 liked), film, map; beside
            the same work in this process (title lookup and index.answers: the floor, no
            HTTP, no JSON)
  mixed     /api/info's median and p99 alone, then while 20 clients ask heavy answers
            (50 liked films, k=100) without pause; the heavy answers' rate and 503 share
  page      headless chromium (Playwright): page requested -> map drawn (ms), suggestions
            shown after typing, and the map's drawing time (ms a frame; zoomed in too)
Prints a table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np

from bench.results_file import write_result

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
DIM, CLUSTERS, LINKS, PER_CLUSTER = 64, 1000, 300_000, 300


def synthetic_index(n: int) -> tuple[Path, float | None]:
    """(index folder, seconds the t-SNE map took, None when cached)."""
    from bench.synthetic_run import add_film_link_arrays, clustered_vectors, write_run
    from bench.synthetic_run import write_tables_with_redirects as tables_folder
    from conf import load_config
    from index.build import build_index

    folder = DATA / f"serve-synthetic-{n}"
    index = folder / "index"
    if (index / "manifest.json").exists():
        return index, None
    rng = np.random.default_rng(0)
    films = clustered_vectors(n, DIM, clusters=CLUSTERS, spread=0.5, seed=0)
    # Each film's cluster: the centre nearest it (clustered_vectors draws the centres first
    # from the same seed).
    centres = np.random.default_rng(0).standard_normal((CLUSTERS, DIM)).astype(np.float32)
    cluster = np.argmax(films @ centres.T, axis=1)
    own = cluster[:, None] * PER_CLUSTER + rng.integers(0, PER_CLUSTER, (n, 30))
    popular = np.minimum(rng.zipf(1.3, (n, 10)) - 1, LINKS - 1)
    film = np.repeat(np.arange(n), 40)
    link = np.concatenate([own, popular], axis=1).ravel() % LINKS
    pairs = np.unique(film.astype(np.int64) * LINKS + link)
    tables = tables_folder(folder / "tables", {})
    add_film_link_arrays(tables, pairs // LINKS, pairs % LINKS, np.ones(len(pairs), np.int32))
    started = time.perf_counter()
    from trainer.export import map_coordinates

    film_map = map_coordinates(films, seed=0)
    map_s = time.perf_counter() - started
    links = clustered_vectors(LINKS, DIM, clusters=CLUSTERS, spread=0.5, seed=1)
    run = write_run(folder / "run", films, [f"Synthetic film {i}" for i in range(n)], links,
                    [f"Link {i}" for i in range(LINKS)], tables=tables, film_map=film_map)
    build_index(run, index, load_config(), tables_dir=str(tables), overwrite=True)
    (folder / "map_seconds.json").write_text(json.dumps({"films": n, "seconds": map_s}))
    return index, map_s


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def summary(ms: list[float]) -> dict:
    return {"median_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95)),
            "n": len(ms)}


def get(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        return response.read()


def start_server(index: Path) -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "index", "serve", "--index", str(index),
                                "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = process.stdout.readline()
    seconds = time.perf_counter() - started
    if " at " not in line:
        process.kill()
        raise SystemExit(f"bench.serve: the server did not start: {line!r}")
    return process, line.split(" at ", 1)[1].split()[0].rstrip("/"), seconds


def cli_cold_start(index: Path, title: str, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "index", "query", "--index", str(index), title,
                        "--json"], cwd=ROOT, check=True, capture_output=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def misspell(title: str) -> str:
    return title[:2] + title[3] + title[2] + title[4:]


def measure_api(index: Path, url: str, queries: int, seed: int) -> dict:
    from index import answers
    from index.folder import open_index

    films = open_index(index, "films")
    links = open_index(index, "links")
    n = len(films.vectors)
    rng = np.random.default_rng(seed)
    picks = rng.choice(n, queries, replace=False).tolist()
    titles = [films.title(i) for i in picks]
    results = {}

    def both(name: str, paths: list[str], local) -> None:
        http = [timed(lambda p=p: get(url + p))[0] for p in paths]
        floor = [timed(lambda a=a: local(a))[0] for a in range(len(paths))]
        results[name] = {"http": summary(http), "in_process": summary(floor)}

    def liked(titles: list[str]) -> dict:  # what the similar and recommend routes do
        ids = [answers.resolve(films, t, "bench")[0] for t in titles]
        return answers.liked(films, links, ids, 10)

    both("similar", [f"/api/similar/{quote(t)}?k=10" for t in titles],
         lambda a: liked([titles[a]]))
    both("suggest prefix", [f"/api/films?q={quote(t[:12])}" for t in titles],
         lambda a: answers.suggestions(films, titles[a][:12], 8))
    both("suggest misspelt", [f"/api/films?q={quote(misspell(t))}" for t in titles],
         lambda a: answers.suggestions(films, misspell(titles[a]), 8))
    triples = [titles[i:i + 3] for i in range(0, queries - 2, 3)]
    both("recommend (3 liked)",
         ["/api/recommend?" + "&".join(f"liked={quote(t)}" for t in triple) + "&k=10"
          for triple in triples],
         lambda a: liked(triples[a]))
    both("film", [f"/api/film/{i}" for i in picks], lambda a: answers.facts(films, picks[a]))
    map_ms, body = timed(lambda: get(url + "/api/map"))
    results["map"] = {"http": {"median_ms": map_ms, "bytes": len(body)}}
    return results


def measure_mixed_load(url: str, titles: list[str], clients: int = 20,
                       light: int = 300) -> dict:
    """Light answers (/api/info) timed alone, then while `clients` threads ask heavy ones
    without pause (films for someone who liked 50 films, k=100; films like one, k=100): the
    light route's median and p99 in both, the heavy answers' count, median and the share the
    server turned away with 503 (its queue full)."""
    import threading
    import urllib.error

    def info_ms() -> list[float]:
        return [timed(lambda: get(url + "/api/info"))[0] for _ in range(light)]

    idle = info_ms()
    heavy = ["/api/recommend?" + "&".join(f"liked={quote(t)}" for t in titles[i:i + 50])
             + "&k=100" for i in range(0, len(titles) - 50, 25)]
    heavy += [f"/api/similar/{quote(t)}?k=100" for t in titles[:50]]
    stop = threading.Event()
    done: list[tuple[float, int]] = []

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            path = heavy[n % len(heavy)]
            n += 1
            started = time.perf_counter()
            try:
                get(url + path)
                status = 200
            except urllib.error.HTTPError as e:
                status = e.code
            done.append(((time.perf_counter() - started) * 1000, status))

    threads = [threading.Thread(target=client, args=(i * 7,), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the pool and its queue fill first
    started = time.perf_counter()
    loaded = info_ms()
    seconds = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join(60)
    answered = [ms for ms, status in done if status == 200]
    turned_away = sum(status == 503 for _, status in done)

    def tail(ms: list[float]) -> dict:
        return {"median_ms": statistics.median(ms), "p99_ms": float(np.percentile(ms, 99)),
                "n": len(ms)}

    return {"clients": clients, "light_idle": tail(idle), "light_loaded": tail(loaded),
            "heavy": {**(tail(answered) if answered else {}),
                      "per_s": len(answered) / max(seconds, 1e-9),
                      "turned_away_503": turned_away,
                      "share_503": turned_away / max(len(done), 1)}}


def measure_page(url: str, title: str, repeats: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no chromium (apt-get install chromium)"}
    loads, suggests, paints, zoomed = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "/")
            deadline = time.monotonic() + 60
            while not page.evaluate("window.wikifilmsMap && window.wikifilmsMap.ready()"):
                if time.monotonic() > deadline:
                    raise SystemExit("bench.serve: the map was not drawn within 60 s")
                time.sleep(0.01)
            loads.append(page.evaluate("window.wikifilmsMap.readyAt()"))
            started = time.perf_counter()
            page.fill("#search", title[:10].lower())
            page.wait_for_selector("#suggestions li")
            suggests.append((time.perf_counter() - started) * 1000)
            paints.append(page.evaluate("window.wikifilmsMap.paintMs(20, 1)"))
            zoomed.append(page.evaluate("window.wikifilmsMap.paintMs(20, 8)"))
            films = page.evaluate("window.wikifilmsMap.films()")
            page.close()
        browser.close()
    return {"films_drawn": films, "map_drawn_ms": summary(loads),
            "suggestions_after_typing_ms": summary(suggests),
            "frame_ms": summary(paints), "frame_ms_zoomed_8x": summary(zoomed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--films", type=int, default=150_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)

    index, map_s = synthetic_index(args.films)
    if map_s is None:
        map_s = json.loads((index.parent / "map_seconds.json").read_text())["seconds"]
    title = "Synthetic film 12345"
    process, url, start_s = start_server(index)
    try:
        cold_s = cli_cold_start(index, title)
        api = measure_api(index, url, args.queries, seed=1)
        mixed = measure_mixed_load(url, [f"Synthetic film {i}" for i in range(0, 60_000, 97)])
        page = measure_page(url, title)
    finally:
        process.terminate()
        process.wait(10)

    print(f"\nindex: {args.films:,} films ({index}); t-SNE map of them: {map_s:.0f} s")
    print(f"start: index serve ready in {start_s:.2f} s; one CLI query (cold start) "
          f"{cold_s:.2f} s")
    print(f"\n{'answer':<22}{'HTTP median':>12}{'p95':>8}{'in-process':>12}{'p95':>8}  ms")
    for name, r in api.items():
        h, f = r["http"], r.get("in_process")
        print(f"{name:<22}{h['median_ms']:>12.1f}{h.get('p95_ms', float('nan')):>8.1f}"
              + (f"{f['median_ms']:>12.2f}{f['p95_ms']:>8.2f}" if f else
                 f"   ({h['bytes'] / 2**20:.1f} MB)"))
    light, loaded, heavy = mixed["light_idle"], mixed["light_loaded"], mixed["heavy"]
    print(f"\nmixed load ({mixed['clients']} clients asking heavy answers): /api/info median "
          f"{loaded['median_ms']:.1f} ms, p99 {loaded['p99_ms']:.1f} ms (alone: "
          f"{light['median_ms']:.1f} / {light['p99_ms']:.1f}); heavy answers "
          f"{heavy['per_s']:.1f}/s, median {heavy.get('median_ms', float('nan')):.0f} ms, "
          f"{100 * heavy['share_503']:.0f} % turned away (503)")
    if "skipped" not in page:
        print(f"\npage ({page['films_drawn']:,} films): map drawn "
              f"{page['map_drawn_ms']['median_ms']:.0f} ms after the request; suggestions "
              f"{page['suggestions_after_typing_ms']['median_ms']:.0f} ms after typing; a "
              f"frame {page['frame_ms']['median_ms']:.1f} ms "
              f"({page['frame_ms_zoomed_8x']['median_ms']:.1f} ms zoomed 8x)")
    else:
        print(f"\npage: {page['skipped']}")
    from importlib.metadata import version

    path = write_result("serve", {"films": args.films, "map_tsne_s": map_s,
                                  "serve_start_s": start_s, "cli_cold_start_s": cold_s,
                                  "api": api, "mixed_load": mixed, "page": page},
                        starlette=version("starlette"), uvicorn=version("uvicorn"),
                        playwright=version("playwright"), openTSNE=version("openTSNE"))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
