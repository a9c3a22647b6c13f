"""Print what a tables folder holds, and the films most co-linked with a few example films.

    python -m spark_jobs.show_tables --tables TABLES_DIR [--film TITLE ...] [-k N]

Reads Parquet with pyarrow (no Spark) and refuses a folder without a finished manifest.
"""

from __future__ import annotations

import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq

from conf import cli
from spark_jobs.publish import UnfinishedOutputError, read_manifest


def co_linked(tables: str, film_id: int, k: int) -> list[tuple[int, int, float]]:
    """(other film_id, shared links, weight) of the k pairs with the highest weight."""
    pairs = pq.read_table(f"{tables}/film_pairs")
    mask = pc.or_(pc.equal(pairs["film_a"], film_id), pc.equal(pairs["film_b"], film_id))
    rows = pairs.filter(mask).sort_by([("weight", "descending")]).slice(0, k).to_pylist()
    return [(r["film_b"] if r["film_a"] == film_id else r["film_a"], r["shared"], r["weight"])
            for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(
        "python -m spark_jobs.show_tables",
        "Print a tables folder's counts and, for a few films, the films sharing the most "
        "idf-weighted links with them (from film_pairs).",
        'python -m spark_jobs.show_tables --tables data/tables --film "Heat (1995 film)"')
    parser.add_argument("--tables", required=True, metavar="TABLES_DIR")
    parser.add_argument("--film", action="append", default=[], help="title to show neighbours of")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        manifest = read_manifest(args.tables)
    except UnfinishedOutputError as e:
        print(f"show_tables: error: {e}", file=sys.stderr)
        return 2
    pages = manifest["pages"]
    print(f"tables {args.tables} (run {manifest['id'][:8]}, {manifest['created_at']})")
    print(f"  pages read {pages['read']:,}  redirects {pages['redirects']:,}"
          f"  films {pages['films']:,}"
          f"  skipped {sum(pages['skipped'].values()):,} {pages['skipped'] or ''}")
    for name, table in manifest["tables"].items():
        print(f"  {name:<11} {table['rows']:>10,} rows")
    films = pq.read_table(f"{args.tables}/films",
                          columns=["film_id", "title", "year", "director", "n_links"])
    titles = dict(zip(films["film_id"].to_pylist(), films["title"].to_pylist(), strict=True))
    wanted = args.film or [
        t for t in films.sort_by([("n_links", "descending")])["title"].to_pylist()[:3]
    ]
    if "film_pairs" not in manifest["tables"]:
        return 0
    by_title = {t: i for i, t in titles.items()}
    for title in wanted:
        if title not in by_title:
            print(f"\n'{title}' is not a film in these tables")
            continue
        print(f"\nfilms sharing the most (idf-weighted) links with '{title}':")
        for other, shared, weight in co_linked(args.tables, by_title[title], args.k):
            print(f"  {weight:7.2f}  {shared:4d} shared  {titles[other]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
