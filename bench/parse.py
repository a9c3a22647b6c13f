"""Film-page parse benchmark: wikitext's token scan against mwparserfromhell's whole tree.

    python -m bench.parse [--films 300] [--repeat 3]

In one process, each side run --repeat times interleaved, the best run counting, CPU seconds
(time.process_time) for the links and the infobox of every page:
  tree  mwparserfromhell.parse of the whole page (skip_style_tags, as the job), then
        filter_templates / filter_wikilinks over the tree (what spark_jobs.wikitext did
        before it scanned the tokens)
  scan  the same tokenizer, wikitext.scan_tokens, extract_links and infobox_template (the
        infobox's own tree only)
on two sets of pages:
  real    every non-redirect page of the real export fragments in ../shared/data/wiki
          (long articles with references, tables and nested templates; the set is skipped,
          with the reason printed, when that folder is absent)
  sample  the film articles of a generated sample world (--films, seed 1)
Both sides must give the same links and infobox on every page (checked, or it stops). Also
`parse_film_record` whole (infobox fields included) per sample film page. Prints a table and
writes bench/results/parse.json.
"""

from __future__ import annotations

import argparse
import bz2
import time
from collections import Counter
from pathlib import Path

import mwparserfromhell
from mwparserfromhell.nodes import Comment, Template

from bench.results_file import write_result
from conf import load_config
from sample_dump.dump import page_xml
from sample_dump.pages import plan_pages
from sample_dump.world import World
from spark_jobs import wikitext
from wikititles.titles import normalize_link, template_key

SHARED_WIKI = Path(__file__).resolve().parents[2] / "shared" / "data" / "wiki"


def _comparable(read) -> tuple[Counter, str | None]:
    links, infobox = read
    return links, None if infobox is None else str(infobox)


def read_by_tree(text: str, keys: frozenset[str],
                 keep_categories: bool = True) -> tuple[Counter[str], Template | None]:
    """The same through mwparserfromhell's whole node tree (parse, then filter_templates /
    filter_wikilinks, as its documentation shows): what this module did before scan_tokens.
    Not used by the job: this benchmark and tests/test_wikitext.py check read_by_tokens
    against it."""
    code = mwparserfromhell.parse(text, skip_style_tags=True)
    infobox = next((t for t in code.filter_templates(recursive=True) if template_key(
        "".join(str(n) for n in t.name.nodes if not isinstance(n, Comment))) in keys), None)
    links: Counter[str] = Counter()
    for link in code.filter_wikilinks(recursive=True):
        raw = wikitext.link_target(link)
        target = normalize_link(raw, keep_categories=keep_categories) if raw is not None else None
        if target is not None:
            links[target] += 1
    return links, infobox


def tree_links_and_infobox(text: str, keys: frozenset[str]) -> tuple[Counter, str | None]:
    return _comparable(read_by_tree(text, keys))


def scan_links_and_infobox(text: str, keys: frozenset[str]) -> tuple[Counter, str | None]:
    return _comparable(wikitext.read_by_tokens(text, keys))


def real_pages() -> dict[str, str] | str:
    """title -> wikitext of every non-redirect page of the fragments, or why there are none."""
    if not SHARED_WIKI.is_dir():
        return f"{SHARED_WIKI} is absent"
    texts = {}
    for path in sorted(SHARED_WIKI.glob("enwiki-*.xml*")):
        data = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
        for record in data.decode("utf-8").split("</page>"):
            if "<page>" in record:
                _id, title, _ns, redirect, text = wikitext.read_page_xml(record)
                if not redirect:
                    texts[f"{path.name}:{title}"] = text
    return texts


def timed(fn, texts: list[str], keys: frozenset[str]) -> tuple[float, list]:
    started = time.process_time()
    out = [fn(text, keys) for text in texts]
    return time.process_time() - started, out


def measure(name: str, texts: dict[str, str], keys: frozenset[str], repeat: int) -> dict:
    values = list(texts.values())
    runs: dict[str, list[float]] = {"tree": [], "scan": []}
    for _ in range(repeat):
        tree_s, tree = timed(tree_links_and_infobox, values, keys)
        scan_s, scan = timed(scan_links_and_infobox, values, keys)
        runs["tree"].append(round(tree_s, 3))
        runs["scan"].append(round(scan_s, 3))
        differ = [title for title, a, b in zip(texts, tree, scan, strict=True) if a != b]
        if differ:
            raise SystemExit(f"bench.parse: the scan and the tree differ on {differ[:5]}")
    megabytes = sum(len(t.encode("utf-8")) for t in values) / 1e6
    best = {side: min(seconds) for side, seconds in runs.items()}
    return {
        "set": name, "pages": len(values), "mb": round(megabytes, 2), "runs_s": runs,
        "tree_s": best["tree"], "scan_s": best["scan"],
        "tree_mb_s": round(megabytes / best["tree"], 2),
        "scan_mb_s": round(megabytes / best["scan"], 2),
        "tree_ms_page": round(1000 * best["tree"] / len(values), 2),
        "scan_ms_page": round(1000 * best["scan"] / len(values), 2),
        "speedup": round(best["tree"] / best["scan"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--films", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = load_config(None, [])
    keys = wikitext.infobox_keys(cfg["ingest"]["infobox_names"])

    pages, truth = plan_pages(World(args.films, 1), dict(cfg["sample"]))
    films = {p.title: p.text for p in pages if p.title in truth.films and p.ns == 0}
    sets = {"sample": films}
    real = real_pages()
    if isinstance(real, str):
        print(f"real pages skipped: {real}")
    else:
        sets["real"] = real
    results = [measure(name, texts, keys, args.repeat) for name, texts in sets.items()]

    records = [page_xml(title, 0, i + 1, text).rsplit("</page>", 1)[0]
               for i, (title, text) in enumerate(films.items())]
    whole = []
    for _ in range(args.repeat):
        started = time.process_time()
        parsed = [wikitext.parse_film_record(r, keys) for r in records]
        whole.append(time.process_time() - started)
    assert all(p.status == wikitext.FILM for p in parsed)
    film_record_ms = round(1000 * min(whole) / len(records), 2)

    print("| pages | count | MB | tree s | scan s | tree MB/s | scan MB/s | tree / scan |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['set']} | {r['pages']} | {r['mb']} | {r['tree_s']} | {r['scan_s']} | "
              f"{r['tree_mb_s']} | {r['scan_mb_s']} | {r['speedup']}x |")
    print(f"parse_film_record, sample film pages: {film_record_ms} ms a page")
    path = write_result("parse", {
        "repeat": args.repeat, "films": args.films, "sets": results,
        "parse_film_record_ms_per_sample_film": film_record_ms,
    }, mwparserfromhell=mwparserfromhell.__version__)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
