"""`python -m trainer train|evaluate`: thin shells over trainer.train and trainer.quality.

TensorFlow is imported inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conf import ConfigError, cli, load_config
from conf.jsontext import dumps

USAGE = ("Train film and link vectors on a tables folder, measure a finished run, and train "
         "a ranking model on ratings.")


def _ratings_run_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """--ratings, --films-run, --out, --overwrite of the commands training on ratings."""
    parser.add_argument("--ratings", required=True, metavar="RATINGS_DIR",
                        help="folder written by spark_jobs.ratings")
    parser.add_argument("--films-run", metavar="RUN_DIR",
                        help="a films run (`train`) on the tables the ratings are linked to: "
                        "the Wikipedia features of the linked items")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace the {kind} run folder already at --out")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=USAGE)
    sub = parser.add_subparsers(dest="command", required=True)
    train = cli.subcommand(
        sub, "train", "Train film and link vectors on a tables folder and write a run folder "
        "(vectors, model, checkpoints, metrics, TensorBoard logs), its manifest last.",
        "python -m trainer train --tables data/tables --out data/run --ratings data/ratings")
    train.add_argument("--tables", required=True, metavar="TABLES_DIR",
                       help="folder written by spark_jobs.parse_dump")
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its latest checkpoint")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run folder already at --out")
    rank = cli.subcommand(
        sub, "rank", "Train a ranking model (BPR) on a ratings folder, its items made of their "
        "genres and their films' Wikipedia links and vectors, and write a ranking run folder "
        "(user and item vectors, the split, per-user AUC beside the baselines), manifest last.",
        "python -m trainer rank --ratings data/ratings --films-run data/run --out data/ranking")
    _ratings_run_arguments(rank, "ranking")
    rank.add_argument("--resume", action="store_true",
                      help="continue the run in --out from its latest checkpoint")
    cli.add_config_arguments(rank)
    cli.add_logging_arguments(rank)
    rate = cli.subcommand(
        sub, "rate", "Train a rating model (predicted stars) on a ratings folder and measure "
        "RMSE and MAE beside the baselines (global mean, biases, biased matrix factorisation, "
        "most common rating) on the same split or folds; write a rating run folder.",
        "python -m trainer rate --ratings data/ratings --films-run data/run --out data/rating "
        "-p rate.folds=5")
    _ratings_run_arguments(rate, "rating")
    rate.add_argument("--resume", action="store_true",
                      help="continue the run in --out from its latest checkpoints")
    cli.add_config_arguments(rate)
    cli.add_logging_arguments(rate)
    evaluate = cli.subcommand(
        sub, "evaluate", "Held-out metrics of a finished run's vectors, and with --pairs or "
        "--ratings their quality beside the co-link baselines.",
        "python -m trainer evaluate --run data/run --pairs truth.json --ratings data/ratings")
    evaluate.add_argument("--run", required=True, metavar="RUN_DIR",
                          help="run folder written by `train`")
    for p in (train, evaluate):
        p.add_argument("--pairs", metavar="PAIRS.json", help="known related films (a JSON list "
                       "of title pairs, a films-cast truth's sequels, a sample dump's truth): "
                       "report pair hit@k beside the co-link baselines")
        p.add_argument("--ratings", metavar="RATINGS_DIR", help="ratings linked to these tables "
                       "(python -m spark_jobs.ratings): report the taste AUC beside the "
                       "baselines")
        cli.add_config_arguments(p)
        cli.add_logging_arguments(p)
    return parser


def _evaluate(args) -> dict:
    import numpy as np

    from trainer.evaluate import (
        auc_by_link_films,
        evaluate_vectors,
        film_vectors_from_links,
        held_out_for,
    )
    from trainer.quality import quality_report
    from trainer.ratings import load_ratings
    from trainer.run_folder import read_run_manifest
    from trainer.tables import heldout_mask, load_tables

    manifest = read_run_manifest(args.run)
    # The run's own split and metric settings, unless the command line overrides them.
    cfg = manifest["config"]
    if args.config or args.overrides:
        cfg = load_config(args.config, args.overrides)
    if args.show_config:
        print(cli.to_toml(cfg), end="")
        sys.exit(0)
    tables = load_tables(manifest["tables"]["folder"])
    if tables.manifest["id"] != manifest["tables"]["id"]:
        raise ConfigError(f"{args.run} was trained on tables {manifest['tables']['id'][:8]} but "
                          f"{manifest['tables']['folder']} now holds {tables.manifest['id'][:8]}")
    ratings = load_ratings(args.ratings, tables.manifest["id"]) if args.ratings else None
    held = heldout_mask(tables, cfg)
    train, heldout = tables.film_links[~held], tables.film_links[held]
    films = np.load(Path(args.run) / manifest["embeddings"]["films"])
    links = np.load(Path(args.run) / manifest["embeddings"]["links"])
    # The exported films are made of all their links: remade from the training links.
    held_films = film_vectors_from_links(links, train, tables.film_link_counts[~held],
                                         tables.n_films)
    held_out = held_out_for(train, heldout, tables.n_links, cfg)
    metrics = evaluate_vectors(held_films, links, held_out, cfg["eval"]["recall_at"])
    metrics["auc_by_link_films"] = auc_by_link_films(held_films, links, held_out,
                                                     tables.link_film_count)
    if args.pairs or ratings is not None:
        metrics["quality"] = quality_report(films, tables.film_links, tables.film_titles,
                                            tables.n_links, cfg, pairs=args.pairs,
                                            ratings=ratings)
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli.setup_logging(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from conf.manifest import RATING_KIND, RUN_KIND
    from trainer.recommend.inputs import check_inputs
    from trainer.run_folder import check_run_dir, worker_of_env

    try:
        if args.command == "train":
            from trainer.tables import read_tables_manifest

            # A missing or unfinished tables folder, or an --out that must not be written,
            # fails before TensorFlow's import (seconds, docs/stack.md; and on CPUs where
            # oneDNN's custom operations are on, log lines on stderr that
            # TF_CPP_MIN_LOG_LEVEL does not silence).
            cfg = cli.load(args)
            tables_id = read_tables_manifest(args.tables)["id"]
            if worker_of_env().chief:  # a worker beside the chief writes nothing in --out
                check_run_dir(Path(args.out), kind=RUN_KIND, what="run folder",
                              upstream="tables", source=args.tables, source_id=tables_id,
                              inputs=[args.tables], resume=args.resume,
                              overwrite=args.overwrite)
            from trainer.train import run

            manifest = run(args.tables, args.out, cfg, resume=args.resume,
                           overwrite=args.overwrite, pairs=args.pairs,
                           ratings=args.ratings)
            if "worker" in manifest:
                print(dumps({"run": args.out, **manifest}, indent=2))
                return 0
            print(dumps({"run": args.out, **manifest["metrics"],
                              "quality": manifest["quality"],
                              **({"incomplete_tables": manifest["tables"]["incomplete"]}
                                 if "incomplete" in manifest["tables"] else {})},
                             indent=2))
        elif args.command == "rank":
            cfg = cli.load(args)
            check_inputs(args.ratings, args.films_run, args.out, cfg["rank"]["features"],
                         "rank", resume=args.resume, overwrite=args.overwrite)
            from trainer.recommend.ranking_run import run as rank

            manifest = rank(args.ratings, args.out, cfg, films_run=args.films_run,
                            resume=args.resume, overwrite=args.overwrite)
            print(dumps({"run": args.out, "features": manifest["features"],
                              "epochs": manifest["epochs"], "auc": manifest["auc"]},
                             indent=2))
        elif args.command == "rate":
            cfg = cli.load(args)
            check_inputs(args.ratings, args.films_run, args.out, cfg["rate"]["features"],
                         "rate", resume=args.resume, overwrite=args.overwrite, kind=RATING_KIND)
            from trainer.recommend.rating_run import run as rate

            manifest = rate(args.ratings, args.out, cfg, films_run=args.films_run,
                            resume=args.resume, overwrite=args.overwrite)
            print(dumps({"run": args.out, "summary": manifest["summary"]}, indent=2))
        else:
            print(dumps(_evaluate(args), indent=2))
    except cli.KNOWN_ERRORS as e:
        return cli.fail("trainer", e)
    return 0
