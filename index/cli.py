"""`python -m index build|query|verify`: thin shells over index.build and index.query.

Neither command imports TensorFlow or PySpark; `query` memory-maps the index, so it answers
in well under a second from a cold start.
"""

from __future__ import annotations

import argparse
import sys

from conf import ConfigError, cli
from conf.jsontext import dumps
from index.arguments import UsageError, check_title

NOT_FOUND, BAD_INPUT = 1, 2
EXIT_STATUS = ("exit status: 0 answered; 1 a title (or a user of the ratings) was not found or "
               "is ambiguous (suggestions or candidates on stderr); 2 a bad index folder, run "
               "folder, configuration or argument (one line naming it)")
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
    build.add_argument("--ranking-run", metavar="RANKING_DIR",
                       help="a ranking run (`python -m trainer rank`) on ratings linked to the "
                       "run's tables: answers --user, --rated and --by-ratings queries")
    build.add_argument("--rating-run", metavar="RATING_DIR",
                       help="a rating run (`python -m trainer rate`) on ratings linked to the "
                       "run's tables: answers --predict queries")
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
    query.add_argument("titles", nargs="*", metavar="TITLE",
                       help="one title, or several: items for someone who liked all of them")
    query.add_argument("--user", metavar="USER_ID",
                       help="films for a user of the ratings (the data set's own id), not "
                       "among those the user rated (needs an index built with --ranking-run)")
    query.add_argument("--rated", action="append", metavar="TITLE=STARS",
                       help="films for someone new who rated these (repeat it): folded into "
                       "the ranking model without retraining")
    query.add_argument("--predict", action="append", metavar="TITLE",
                       help="with --user or --rated: the stars the rating model predicts for "
                       "this film (repeat it; needs an index built with --rating-run)")
    query.add_argument("--by-ratings", action="store_true",
                       help="films like TITLE by the ranking model's item vectors (who rates "
                       "them alike) instead of Wikipedia's links")
    query.add_argument("-k", type=int, default=10, help="answers (default 10)")
    query.add_argument("--links", action="store_true", help="query the links (pages) index")
    query.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    serve = cli.subcommand(
        sub, "serve", "The web page and its JSON API over the index: search with suggestions, "
        "films like a film and the links that make them alike, the map of all films, films "
        "for someone who liked several, and a user's films where the index has a ranking "
        "model. Read-only; localhost unless --host says otherwise.",
        "python -m index serve --index data/index  # then open http://127.0.0.1:8000/")
    serve.add_argument("--index", required=True, metavar="INDEX_DIR",
                       help="index folder written by `build` (with --ranking-run for users)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port (default 8000; 0 picks a free one)")
    cli.add_logging_arguments(serve)
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


def _format_table(found: list[dict], kind: str, measure: str = "cosine") -> str:
    """Answer rows (index.answers) as an aligned table; `measure` heads the score column."""
    def value(a: dict) -> float:
        return a["similarity"] if "similarity" in a else a["score"]

    if kind == "films":
        head = ("rank", "title", measure, "year", "director")
        rows = [(str(a["rank"]), a["title"], f"{value(a):.3f}", str(a.get("year") or ""),
                 a.get("director") or "") for a in found]
    else:
        head = ("rank", "title", "cosine", "films")
        rows = [(str(a["rank"]), a["title"], f"{value(a):.3f}", str(a.get("film_count", "")))
                for a in found]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    right = {0, 2}
    lines = []
    for row in (head, *rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _checked(titles_stars: list[tuple[str, float | None]]) -> list[tuple[str, float | None]]:
    return [(check_title(title), stars) for title, stars in titles_stars]


def _predict_query(args) -> int:
    """Predicted stars of the --predict films for --user or for someone who gave --rated."""
    from index import answers
    from index.folder import open_index, open_rating
    from index.ranking import parse_rated, user_id

    rating = open_rating(args.index)
    films = open_index(args.index, "films")
    targets = answers.ratings_items(rating, films, _checked([(t, None) for t in args.predict]),
                                    args.index)
    if args.user is not None:
        vector = rating.users[user_id(rating, args.user.strip())]
        who = f"user {args.user}"
    else:
        rated = answers.ratings_items(rating, films, _checked(parse_rated(args.rated)),
                                      args.index)
        vector = rating.fold_in(rated)
        who = "someone who rated " + ", ".join(f"{rating.describe(i)['title']} {s:g}"
                                                for i, s in rated.items())
    rows = answers.predicted(rating, vector, list(targets))
    if args.json:
        for row in rows:
            print(dumps(row, ensure_ascii=False))
        return 0
    print(f"Predicted stars for {who} (rating model, scale {rating.low:g} to {rating.high:g})")
    for row in rows:
        print(f"{row['predicted']:5.2f}  {row['title']}")
    return 0


def _ranking_query(args) -> int:
    from index import answers
    from index.folder import open_index, open_ranking
    from index.ranking import for_ratings, for_user, parse_rated, similar_items, user_id

    if args.predict:
        return _predict_query(args)
    ranking = open_ranking(args.index)
    if args.user is not None:
        found = for_user(ranking, user_id(ranking, args.user.strip()), args.k)
        heading = f"Films for user {args.user} (ranking model; films the user rated left out)"
    else:
        films = open_index(args.index, "films")
        wanted = _checked(parse_rated(args.rated) if args.rated
                          else [(t, None) for t in args.titles])
        items = answers.ratings_items(ranking, films, wanted, args.index)
        if args.rated:
            found = for_ratings(ranking, items, args.k)
            heading = "Films for someone who rated " + ", ".join(
                f"{ranking.describe(i)['title']} {s:g}" for i, s in items.items())
        else:
            found = similar_items(ranking, list(items), args.k)
            heading = "Films like " + ", ".join(ranking.describe(i)["title"] for i in items) \
                + " by the ranking model (cosine of the item vectors)"
    rows = answers.ranked(ranking, found)
    if args.json:
        for row in rows:
            print(dumps(row, ensure_ascii=False))
        return 0
    print(heading)
    print(_format_table(rows, "films", "score"))
    return 0


def _query(args) -> int:
    from index import answers
    from index.folder import open_index

    modes = [bool(args.user is not None), bool(args.rated),
             bool(args.titles) and not args.by_ratings, bool(args.titles) and args.by_ratings]
    if sum(modes) != 1 or (args.links and (args.user is not None or args.rated
                                           or args.by_ratings)):
        raise UsageError("give titles (with --by-ratings or --links, or neither), or --user "
                         "USER_ID, or --rated TITLE=STARS ...: one of them")
    if args.predict and not (modes[0] or modes[1]):
        raise UsageError("--predict TITLE goes with --user USER_ID or --rated TITLE=STARS")
    if not modes[2]:
        return _ranking_query(args)
    kind = "links" if args.links else "films"
    titles = [check_title(t) for t in args.titles]  # before the index is opened
    side = open_index(args.index, kind)
    ids, notes = [], []
    for title in titles:
        found, note = answers.resolve(side, title, args.index)
        ids.append(found)
        if note:
            notes.append(note)
    rows = answers.similar(side, ids, args.k, exact=args.exact, search_k=args.search_k)
    if args.json:
        for row in rows:
            print(dumps(row, ensure_ascii=False))
        return 0
    liked = ", ".join(side.title(i) for i in ids)
    exact = side.exact_by_default if args.exact is None else args.exact
    how = "exact search" if exact else "Annoy"
    if side.colink is not None:
        how += f", re-ranked with the films' links: score = {side.vector_weight:g} x vector " \
               f"cosine + {1 - side.vector_weight:g} x link cosine"
    print(f"{kind.capitalize()} like {liked} ({how}" + (f"; {'; '.join(notes)}" if notes else "")
          + ")")
    print(_format_table(rows, kind, "score" if side.colink is not None else "cosine"))
    return 0


def _serve(args) -> int:
    from index.serve import is_loopback, make_server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give a port from 0 to 65535")
    server, sock, url = make_server(args.index, args.host, args.port)
    if not is_loopback(args.host):
        print(f"index: listening on {args.host}: anyone who can reach this machine can read "
              "the index (the server is read-only)", file=sys.stderr)
    print(f"index: serving {args.index} at {url} (Ctrl-C stops it)", flush=True)
    with sock:
        server.run(sockets=[sock])
    return 0


def _verify(args) -> int:
    """Every file of the index: ok or damaged, one line each; exit 2 if any is damaged."""
    from index.folder import REBUILD, verify_index

    report = verify_index(args.index)
    for path, entry, problem in report:
        if problem is None:
            print(f"ok {path} ({entry['bytes']} bytes, sha256 {entry['sha256'][:12]})")
        else:
            print(f"damaged {path}: {problem}")
    damaged = sum(problem is not None for _, _, problem in report)
    if damaged:
        print(f"index: error: {damaged} of {len(report)} files of {args.index} are damaged "
              f"or missing; {REBUILD}", file=sys.stderr)
        return BAD_INPUT
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("query", "verify"):
        args.quiet = True  # a query prints its answer, not log lines
    cli.setup_logging(args)
    try:
        if args.command == "build":
            from index.build import build_index

            cfg = cli.load(args)
            manifest = build_index(args.run, args.out, cfg, tables_dir=args.tables,
                                   ranking_run=args.ranking_run,
                                   rating_run=args.rating_run, overwrite=args.overwrite)
            print(dumps({"index": args.out, "id": manifest["id"],
                              **{k: {"items": manifest[k]["items"],
                                     "search": manifest[k]["recall"]["search"],
                                     "annoy_recall@10": manifest[k]["recall"]["recall"],
                                     "search_k": manifest[k]["recall"]["search_k"]}
                                 for k in ("films", "links")}}, indent=2))
            return 0
        if args.command == "serve":
            return _serve(args)
        if args.command == "verify":
            return _verify(args)
        if args.k < 1:
            raise ConfigError(f"-k must be >= 1, got {args.k}")
        return _query(args)
    except cli.KNOWN_ERRORS as e:
        return cli.fail("index", e)
