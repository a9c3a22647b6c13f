"""`python -m trainer train|evaluate`: thin shells over trainer.train and trainer.evaluate.

TensorFlow is imported inside the commands, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from conf import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train embeddings on a tables folder")
    train.add_argument("--tables", required=True, help="folder written by spark_jobs.parse_dump")
    train.add_argument("--out", required=True, help="run folder to write")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its latest checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    train.add_argument("--pairs", metavar="PAIRS.json", help="known related films (a JSON list "
                       "of title pairs, a films-cast truth's sequels, a sample dump's truth): "
                       "report pair hit@k beside the co-link baselines")
    train.add_argument("--ratings", metavar="RATINGS_DIR", help="ratings linked to these tables "
                       "(python -m spark_jobs.ratings): report the taste AUC beside the "
                       "baselines")
    evaluate = sub.add_parser("evaluate", help="held-out metrics of a finished run")
    evaluate.add_argument("--run", required=True, help="run folder written by `train`")
    evaluate.add_argument("--pairs", metavar="PAIRS.json", help="as for train")
    evaluate.add_argument("--ratings", metavar="RATINGS_DIR", help="as for train")
    for p in (train, evaluate):
        p.add_argument("--config", help="overlay: local, test, gpu, cluster or a path")
        p.add_argument("-p", dest="overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="override one setting")
        p.add_argument("-q", "--quiet", action="store_true", help="warnings only")
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
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from trainer.quality import TruthError
    from trainer.ratings import RatingsError
    from trainer.run_folder import RunFolderError
    from trainer.tables import TablesError

    try:
        if args.command == "train":
            from trainer.tables import read_tables_manifest

            # A missing or unfinished tables folder fails before TensorFlow's import (3-4 s,
            # and on CPUs where oneDNN's custom operations are on, log lines on stderr that
            # TF_CPP_MIN_LOG_LEVEL does not silence).
            read_tables_manifest(args.tables)
            from trainer.train import run

            cfg = load_config(args.config, args.overrides)
            manifest = run(args.tables, args.out, cfg, resume=args.resume,
                           overwrite=args.overwrite, pairs=args.pairs,
                           ratings=args.ratings)
            print(json.dumps({"run": args.out, **manifest["metrics"],
                              "quality": manifest["quality"],
                              **({"incomplete_tables": manifest["tables"]["incomplete"]}
                                 if "incomplete" in manifest["tables"] else {})},
                             indent=2, default=float))
        else:
            print(json.dumps(_evaluate(args), indent=2, default=float))
    except (ConfigError, TablesError, RunFolderError, TruthError, RatingsError, OSError) as e:
        print(f"trainer: error: {e}", file=sys.stderr)
        return 2
    return 0
