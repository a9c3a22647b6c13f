"""The headline benchmark tables, written from bench/results/*.json, never by hand.

    python -m bench.report            print them
    python -m bench.report --write    put them into bench/README.md between its markers

Each table puts the measured figure beside the baseline the benchmark ran in the same run,
and names the results file and when it was written. tests/test_bench_report.py checks that
bench/README.md holds exactly what this renders from the committed results, so the two
cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.results_file import RESULTS

README = Path(__file__).resolve().parent / "README.md"
# The project's README holds some of these tables too, between markers of its own.
PROJECT_README = README.parent.parent / "README.md"
BEGIN, END = "<!-- bench.report: begin -->", "<!-- bench.report: end -->"
README_TABLES = ("peers", "scale")


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _source(name: str, result: dict) -> str:
    return f"(`bench/results/{name}.json`, {result.get('created_at', '?')[:10]})"


def quality(r: dict) -> list[str]:
    q = r["quality"]
    columns = ("colink_plain", "colink_idf", "popularity", "vectors", "answers")
    rows = [f"### Quality on real films {_source('quality', r)}", "",
            "| measure | plain co-link | idf co-link | popularity | film vectors | answers |",
            "|---|---:|---:|---:|---:|---:|"]
    for measure in ("pair_hit@10", "taste_auc"):
        cells = ("—" if q[measure].get(c) is None else f"{q[measure][c]:.3f}" for c in columns)
        rows.append(f"| {measure} | " + " | ".join(cells) + " |")
    return rows


def scorer_order(names) -> list[str]:
    """Baselines first, then models with more features."""
    first = ["popularity", "item_knn", "content_knn", "ids", "ids+genres"]
    return [n for n in first if n in names] + sorted(n for n in names if n not in first)


def ranking(r: dict) -> list[str]:
    names = scorer_order(r["auc"]["test"])
    rows = [f"### Ranking for people, MovieLens-100K {_source('ranking', r)}", "",
            "| per-user AUC | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for task in ("test", "cold"):
        rows.append(f"| {task} | " + " | ".join(f"{r['auc'][task][n]:.3f}" for n in names)
                    + " |")
    one, seconds = r["one_model"], r["seconds"]
    rows += ["", f"`trainer rank`: {seconds['rank_command_one_model']:.0f} s for the model "
             f"alone ({one['epochs']} epochs, {one['positives_per_s']:,.0f} positives/s), "
             f"{seconds['rank_command']:.0f} s with the two comparison models."]
    return rows


def ingestion(r: dict) -> list[str]:
    two, one, mb = r["two_cores"], r["one_core"], r["dump"]["xml_bytes"] / 1e6
    rows = [f"### Ingestion, {mb:,.0f} MB of XML {_source('ingest', r)}", "",
            "| run | seconds | MB/s of XML |", "|---|---:|---:|"]
    for label, run in (("the job, 2 cores", two["job"]),
                       ("the job, 1 core", one["job"]),
                       ("the job with Hadoop's reader, 2 cores", two["job_hadoop_reader"]),
                       ("bare read (Hadoop's reader), 2 cores", two["bare_read"])):
        rows.append(f"| {label} | {run['seconds']:.1f} | {mb / run['seconds']:.1f} |")
    classic = r["classic"]
    rows.append(f"| classic: mwparserfromhell on every page, 1 process "
                f"(first {classic['xml_mb']:.0f} MB, scaled) | {mb / classic['mb_per_s']:,.1f} | "
                f"{classic['mb_per_s']:.2f} |")
    ratios = r["ratios"]
    rows += ["", f"The job against the classic method {ratios['job_vs_classic']:.1f}x, against "
             f"a bare read {ratios['job_vs_bare_read']:.2f}, 2 cores against 1 "
             f"{ratios['two_cores_vs_one']:.2f}."]
    return rows


def training(r: dict) -> list[str]:
    s = r["scale"]
    return [f"### Training throughput {_source('train', r)}", "",
            "| tables | classic examples/s | trainer examples/s | ratio |", "|---|---:|---:|---:|",
            f"| {s['films']:,} films x {s['links']:,} links, {s['pairs']:,} pairs (synthetic) "
            f"| {s['classic_examples_per_s']:,.0f} | {s['trainer_examples_per_s']:,.0f} | "
            f"{s['ratio']:.1f}x |"]


def index(r: dict) -> list[str]:
    rows = [f"### Index queries {_source('index', r)}", "",
            "| vectors | items | answered by | q/s (Annoy) | q/s (brute force) | cold start |",
            "|---|---:|---|---:|---:|---:|"]
    for s in r["sets"]:
        f = s["films"]
        rows.append(f"| {s['name']}, films | {f['items']:,} | {f['search']} | "
                    f"{f['annoy_qps']:,.0f} | {f['exact_qps']:,.0f} | "
                    f"{s['cold_start']['query_s']:.2f} s |")
    return rows


def serve(r: dict) -> list[str]:
    rows = [f"### The web page, {r['films']:,} synthetic films {_source('serve', r)}", "",
            "| answer | over HTTP, median (p95) | in process, median |",
            "|---|---:|---:|"]
    for name, a in r["api"].items():
        h, f = a["http"], a.get("in_process")
        spread = f"({h['p95_ms']:.1f})" if "p95_ms" in h else f"({h['bytes'] / 2**20:.1f} MB)"
        local = f"{f['median_ms']:.2f} ms" if f else "—"
        rows.append(f"| {name} | {h['median_ms']:.1f} ms {spread} | {local} |")
    mixed = r.get("mixed_load")
    if mixed:
        light, loaded, heavy = mixed["light_idle"], mixed["light_loaded"], mixed["heavy"]
        rows.append(f"| info, while {mixed['clients']} clients ask heavy answers (50 liked, "
                    f"k=100) | {loaded['median_ms']:.1f} ms (p99 {loaded['p99_ms']:.1f}) | "
                    f"alone over HTTP: {light['median_ms']:.1f} ms (p99 "
                    f"{light['p99_ms']:.1f}) |")
    rows += ["", f"Server ready {r['serve_start_s']:.2f} s after start (one CLI query, cold: "
                 f"{r['cli_cold_start_s']:.2f} s)."]
    if mixed:
        rows[-1] += (f" Under that load the heavy answers came at {heavy['per_s']:.1f}/s, "
                     f"{heavy.get('median_ms', float('nan')):.0f} ms each (median, queued), "
                     f"{100 * heavy['share_503']:.0f} % turned away with 503.")
    page = r["page"]
    if "skipped" not in page:
        rows[-1] += (f" Page: map drawn {page['map_drawn_ms']['median_ms']:.0f} ms after the "
                     f"request, suggestions {page['suggestions_after_typing_ms']['median_ms']:.0f}"
                     f" ms after typing, {page['frame_ms']['median_ms']:.1f} ms a frame.")
    return rows


PEERS = (("lightfm_warp", "LightFM WARP (ids, genres, links)"),
         ("implicit_als", "implicit ALS"), ("implicit_bpr", "implicit BPR"),
         ("ease", "EASE"))


def peers(r: dict) -> list[str]:
    """Our model beside the libraries people would pick, on our split, by our AUC code."""
    sets = r["sets"]
    names = list(sets)
    rows = [f"### Ours beside the libraries people use {_source('peers', r)}", "",
            "| per-user AUC, warm / cold (seconds) | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names)]

    def cell(entry: dict | None) -> str:
        if entry is None:
            return "—"
        if "skipped" in entry:
            return "does not fit"
        seconds = f" ({entry['seconds']:.0f} s)" if "seconds" in entry else ""
        return f"{entry['test']:.3f} / {entry['cold']:.3f}{seconds}"

    rows.append("| **ours** (`trainer rank`) | "
                + " | ".join(f"**{cell(sets[n]['ours'])}**" for n in names) + " |")
    for key, label in PEERS:
        rows.append(f"| {label} | " + " | ".join(cell(sets[n].get(key)) for n in names) + " |")
    for key in ("item_knn", "popularity"):
        rows.append(f"| {key.replace('_', '-')} (in our run) | "
                    + " | ".join(cell(sets[n]["baselines"].get(key)) for n in names) + " |")
    return rows


SCALE_TARGETS = {"ratings": "", "train": "<= 60 min", "rank": "<= 30 min",
                 "rate": "<= 30 min", "index": "<= 15 min"}


def scale(r: dict) -> list[str]:
    stages = r["stages"]
    rows = [f"### Real size: 170,000 films, 25M ratings {_source('scale', r)}", "",
            "| stage | minutes | peak memory | target (and 12 GiB each) |",
            "|---|---:|---:|---|"]
    for name, target in SCALE_TARGETS.items():
        s = stages.get(name)
        if not s or "seconds" not in s:
            continue
        if s.get("returncode"):
            rows.append(f"| {name} | failed (exit {s['returncode']}) | | {target} |")
            continue
        met = ""
        limit = {"train": 3600, "rank": 1800, "rate": 1800, "index": 900}.get(name)
        if limit:
            met = " met" if s["seconds"] <= limit else " **missed**"
        rows.append(f"| {name} | {s['seconds'] / 60:.1f} | {s['peak_rss_bytes'] / 2**30:.1f} GiB"
                    f" | {target}{met} |")
    q = stages.get("query")
    if q:
        rows += ["", "Queries: a cold start of " + ", ".join(
            f"{k} {v:.2f} s" for k, v in q["cold_start_s"].items()) + "; in one process, "
            "median " + ", ".join(f"{k} {v:.1f} ms" for k, v in q["p50_ms"].items()) + "."]
    s = stages.get("serve")
    if s and "skipped" not in s.get("page", {}):
        page = s["page"]
        rows.append(f"The page: the map of {page['films_drawn']:,} films drawn "
                    f"{page['map_drawn_ms']['median_ms']:.0f} ms after the request; films like "
                    f"X {s['api']['similar']['http']['median_ms']:.1f} ms over HTTP.")
    return rows


def render(only: tuple[str, ...] | None = None) -> str:
    """The tables of the results there are (`only` these)."""
    parts = []
    for name, table in (("quality", quality), ("ranking", ranking), ("peers", peers),
                        ("scale", scale), ("ingest", ingestion),
                        ("train", training), ("index", index), ("serve", serve)):
        result = _load(name)
        if result is not None and (only is None or name in only):
            parts.append("\n".join(table(result)).replace("### ", "#### " if only else "### "))
    return "\n\n".join(parts) + "\n"


def render_readme() -> str:
    return render(README_TABLES)


def written(readme: str) -> str | None:
    """The rendered part of a README's text (between the markers), or None."""
    if BEGIN not in readme or END not in readme:
        return None
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="update bench/README.md")
    args = parser.parse_args(argv)
    tables = render()
    if not args.write:
        print(tables, end="")
        return 0
    for path, text_of in ((README, tables), (PROJECT_README, render_readme())):
        text = path.read_text()
        if written(text) is None:
            print(f"bench.report: {path} has no {BEGIN} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = text.split(BEGIN, 1)
        path.write_text(f"{head}{BEGIN}\n{text_of}{END}{rest.split(END, 1)[1]}")
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
