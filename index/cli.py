"""`python -m index build|query|verify`: thin shells over index.build and index.query.

Neither command imports TensorFlow or PySpark; `query` memory-maps the index, so it answers
in well under a second from a cold start.
"""

from __future__ import annotations

import argparse
import json
import sys

from conf import ConfigError, cli

NOT_FOUND, BAD_INPUT = 1, 2
EXIT_STATUS = ("exit status: 0 answered; 1 a title was not found or is ambiguous (suggestions "
               "or candidates on stderr); 2 a bad index folder, run folder, configuration or "
               "argument (one line naming it)")
# MediaWiki's limit on a page title: a longer argument cannot name a page.
MAX_TITLE_BYTES = 255


class UsageError(ValueError):
    """A command-line argument that cannot be a query (exit 2)."""


def check_title(title: str) -> str:
    """`title` stripped, or UsageError: empty, not valid UTF-8 (argv bytes that Python kept
    as surrogates), or longer than any page title can be."""
    try:
        size = len(title.encode("utf-8"))
    except UnicodeEncodeError as e:
        shown = title.encode("utf-8", "surrogateescape")[:80]
        raise UsageError(f"the title {shown!r} is not valid UTF-8: give titles in UTF-8") from e
    if not title.strip():
        raise UsageError("an empty title: give the title of a film (or of a page with --links)")
    if size > MAX_TITLE_BYTES:
        raise UsageError(f"a title of {size} bytes ({title[:40]!r}...): page titles are at "
                         f"most {MAX_TITLE_BYTES} bytes")
    return title.strip()


USAGE = "Build an Annoy index folder from a run, and answer queries from it."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m index", description=USAGE,
                                     epilog=EXIT_STATUS)
    sub = parser.add_subparsers(dest="command", required=True)
    build = cli.subcommand(
        sub, "build", "Build the index folder from a run folder: Annoy forests over the film "
        "and link vectors, the films' link vectors, the title lookup, a manifest last.",
        "python -m index build --run data/run --out data/index")
    build.add_argument("--run", required=True, metavar="RUN_DIR",
                       help="run folder written by `python -m trainer train`")
    build.add_argument("--out", required=True, metavar="INDEX_DIR", help="index folder to write")
    build.add_argument("--tables", metavar="TABLES_DIR",
                       help="the tables folder the run was trained on, if it moved (redirects "
                       "and the films' links)")
    build.add_argument("--overwrite", action="store_true",
                       help="replace the index folder already at --out")
    cli.add_config_arguments(build)
    cli.add_logging_arguments(build)
    query = cli.subcommand(
        sub, "query", "Films like a film, films for someone who liked several, or pages like "
        "a page (--links).",
        'python -m index query --index data/index "Alien (film)" "Heat (1995 film)"')
    query.add_argument("--index", required=True, metavar="INDEX_DIR",
                       help="index folder written by `build`")
    query.add_argument("titles", nargs="+", metavar="TITLE",
                       help="one title, or several: items for someone who liked all of them")
    query.add_argument("-k", type=int, default=10, help="answers (default 10)")
    query.add_argument("--links", action="store_true", help="query the links (pages) index")
    query.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    verify = cli.subcommand(
        sub, "verify", "Check every file of an index folder against its manifest (whole-file "
        "SHA-256), whatever was verified before.",
        "python -m index verify --index data/index")
    verify.add_argument("--index", required=True, metavar="INDEX_DIR",
                        help="index folder written by `build`")
    search = query.add_mutually_exclusive_group()
    search.add_argument("--exact", dest="exact", action="store_const", const=True,
                        help="brute force (the default where the build found it faster)")
    search.add_argument("--annoy", dest="exact", action="store_const", const=False,
                        help="Annoy even where the build found brute force faster")
    query.add_argument("--search-k", type=int, help="Annoy nodes to inspect (default: tuned "
                                                   "at build time)")
    return parser


def _format_table(neighbours, kind: str, measure: str = "cosine") -> str:
    if kind == "films":
        head = ("rank", "title", measure, "year", "director")
        rows = [(str(n.rank), n.title, f"{n.similarity:.3f}", str(n.facts.get("year") or ""),
                 n.facts.get("director") or "") for n in neighbours]
    else:
        head = ("rank", "title", "cosine", "films")
        rows = [(str(n.rank), n.title, f"{n.similarity:.3f}", str(n.facts.get("film_count", "")))
                for n in neighbours]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    right = {0, 2}
    lines = []
    for row in (head, *rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _describe(side, i: int) -> str:
    facts = side.items.slice(i, 1).to_pylist()[0]
    extra = [str(facts[c]) for c in ("year", "director") if facts.get(c)]
    return facts["title"] + (f" ({', '.join(extra)})" if extra else "")


def _query(args) -> int:
    from index.folder import open_index
    from index.query import nearest

    kind = "links" if args.links else "films"
    titles = [check_title(t) for t in args.titles]  # before the index is opened
    side = open_index(args.index, kind)
    ids, notes = [], []
    for title in titles:
        found = side.lookup.resolve(title)
        if found.ambiguous:
            listed = "; ".join(_describe(side, i) for i in found.candidates[:10])
            print(f"index: {title!r} may be any of {len(found.candidates)} {kind}: {listed}. "
                  "Give the full title.", file=sys.stderr)
            return NOT_FOUND
        if found.id is None:
            hint = (f"; did you mean: {'; '.join(found.suggestions)}?" if found.suggestions
                    else "")
            print(f"index: no {kind[:-1]} titled {title!r} in {args.index}{hint}",
                  file=sys.stderr)
            return NOT_FOUND
        ids.append(found.id)
        if found.how != "title":
            notes.append(f"{title!r} -> {side.title(found.id)!r} ({found.how})")
    neighbours = nearest(side, ids, args.k, exact=args.exact, search_k=args.search_k)
    if args.json:
        for n in neighbours:
            print(json.dumps({"rank": n.rank, "id": n.id, "title": n.title,
                              "similarity": round(n.similarity, 6), **n.facts},
                             ensure_ascii=False))
        return 0
    liked = ", ".join(side.title(i) for i in ids)
    exact = side.exact_by_default if args.exact is None else args.exact
    how = "exact search" if exact else "Annoy"
    if side.colink is not None:
        how += f", re-ranked with the films' links: score = {side.vector_weight:g} x vector " \
               f"cosine + {1 - side.vector_weight:g} x link cosine"
    print(f"{kind.capitalize()} like {liked} ({how}" + (f"; {'; '.join(notes)}" if notes else "")
          + ")")
    print(_format_table(neighbours, kind, "score" if side.colink is not None else "cosine"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "build":
        args.quiet = True  # a query prints its answer, not log lines
    cli.setup_logging(args)
    from index.folder import IndexFolderError

    try:
        if args.command == "build":
            from index.build import build_index

            cfg = cli.load(args)
            manifest = build_index(args.run, args.out, cfg, tables_dir=args.tables,
                                   overwrite=args.overwrite)
            print(json.dumps({"index": args.out, "id": manifest["id"],
                              **{k: {"items": manifest[k]["items"],
                                     "search": manifest[k]["recall"]["search"],
                                     "annoy_recall@10": manifest[k]["recall"]["recall"],
                                     "search_k": manifest[k]["recall"]["search_k"]}
                                 for k in ("films", "links")}}, indent=2))
            return 0
        if args.command == "verify":
            from index.folder import verify_index

            for line in verify_index(args.index):
                print(line)
            return 0
        if args.k < 1:
            raise ConfigError(f"-k must be >= 1, got {args.k}")
        return _query(args)
    except (ConfigError, IndexFolderError, UsageError, OSError) as e:
        print(f"index: error: {e}", file=sys.stderr)
        return BAD_INPUT
