"""What the ranking and rating runs read, and what they refuse before reading it.

No TensorFlow here: `check_inputs` runs before the trainer's command imports it, so that a
run folder that must not be written, a ratings folder or films run that is unfinished or
linked to other tables, or features that need a films run, are refused in about a second,
not after the inputs have loaded (35-48 s on MovieLens-100K before). `open_inputs` then loads
them; `start_run_folder` writes the run folder's started.json once the data is known to be
trainable (`check_trainable`), so a refused run leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conf import ConfigError
from conf.manifest import RANKING_KIND
from trainer.ratings import Catalogue, Ratings, RatingsError, load_ratings, read_ratings_manifest
from trainer.recommend.features import Features, item_features
from trainer.run_folder import RunFolderError, check_run_dir, prepare_run_dir, read_run_manifest

# What needs a films run among the items' features (rank.features, rate.features).
WIKIPEDIA_FEATURES = ("links", "film_vector")


@dataclass
class FilmsRun:
    """What a films run gives the items linked to its films."""

    folder: str
    manifest: dict
    vectors: np.ndarray  # [n_films, d]
    film_links: np.ndarray  # [n, 2] film, link
    film_link_counts: np.ndarray
    link_titles: list[str]
    film_titles: list[str]
    n_films: int


def load_films_run(run_dir: str | Path) -> FilmsRun:
    """A finished films run (python -m trainer train) and the tables it was trained on."""
    from trainer.tables import load_tables

    manifest = read_run_manifest(run_dir)
    tables = load_tables(manifest["tables"]["folder"])
    if tables.manifest["id"] != manifest["tables"]["id"]:
        raise RunFolderError(f"{run_dir} was trained on tables {manifest['tables']['id'][:8]} "
                             f"but {manifest['tables']['folder']} now holds "
                             f"{tables.manifest['id'][:8]}")
    vectors = np.load(Path(run_dir) / manifest["embeddings"]["films"])
    return FilmsRun(folder=str(run_dir), manifest=manifest, vectors=vectors,
                    film_links=tables.film_links, film_link_counts=tables.film_link_counts,
                    link_titles=tables.link_titles, film_titles=tables.film_titles,
                    n_films=tables.n_films)


def _what(kind: str) -> str:
    """"wikifilms.ranking_run" -> "ranking run folder"."""
    return kind.split(".", 1)[1].replace("_", " ") + " folder"


def _inputs(ratings_dir: str, films_run: str | None) -> list[str]:
    return [ratings_dir, *([films_run] if films_run else [])]


def check_inputs(ratings_dir: str, films_run: str | None, run_dir: str | Path,
                 features: list[str], section: str, *, resume: bool, overwrite: bool,
                 kind: str = RANKING_KIND) -> None:
    """Every refusal that the manifests and the run folder decide, nothing loaded or written:
    RatingsError, RunFolderError or ConfigError (one line)."""
    ratings = read_ratings_manifest(ratings_dir)
    wiki = [f for f in features if f in WIKIPEDIA_FEATURES]
    if wiki and not films_run:
        raise ConfigError(f"{section}.features {wiki} need a films run: pass --films-run "
                          "RUN_DIR (python -m trainer train), or leave them out")
    if films_run:
        tables = read_run_manifest(films_run)["tables"]["id"]
        cited = (ratings.get("films_tables") or {}).get("id")
        if cited != tables:
            raise RatingsError(f"{ratings_dir} links its items to tables {str(cited)[:8]}, "
                               f"but {films_run} was trained on tables {tables[:8]}: run "
                               "`python -m spark_jobs.ratings` again with --tables pointing "
                               "at the tables the films run was trained on")
    check_run_dir(Path(run_dir), kind=kind, what=_what(kind), upstream="ratings",
                  source=ratings_dir, source_id=ratings["id"],
                  inputs=_inputs(ratings_dir, films_run), resume=resume, overwrite=overwrite)


def open_inputs(ratings_dir: str, films_run: str | None, run_dir: str | Path,
                features: list[str], section: str, *, resume: bool, overwrite: bool,
                kind: str = RANKING_KIND) -> tuple[Ratings, FilmsRun | None]:
    """check_inputs, then the ratings and the films run (checked to be on the same tables)."""
    check_inputs(ratings_dir, films_run, run_dir, features, section, resume=resume,
                 overwrite=overwrite, kind=kind)
    films = load_films_run(films_run) if films_run else None
    ratings = load_ratings(ratings_dir, films.manifest["tables"]["id"] if films else None)
    return ratings, films


def check_trainable(ratings: Ratings, positives: int, what: str) -> None:
    """RatingsError when there is nothing to learn from: no ratings at all, or no training
    `positives` (`what` says which: "ratings >= rank.min_rating 4 among ...")."""
    if not len(ratings.rating):
        raise RatingsError(f"{ratings.folder} holds no ratings: nothing to train on; give "
                           "`python -m spark_jobs.ratings` a source with ratings (or looser "
                           "ratings.min_year/max_year/min_user_ratings/min_item_ratings)")
    if positives == 0:
        raise RatingsError(f"{ratings.folder}: no {what}: nothing to train on")


def start_run_folder(run_dir: str | Path, ratings: Ratings, films_run: str | None, *,
                     resume: bool, overwrite: bool, kind: str = RANKING_KIND) -> None:
    """trainer.run_folder.prepare_run_dir for a run of `kind` started on a ratings folder."""
    prepare_run_dir(Path(run_dir), kind=kind, what=_what(kind), upstream="ratings",
                    source=ratings.folder, source_id=ratings.manifest["id"],
                    inputs=_inputs(ratings.folder, films_run), resume=resume,
                    overwrite=overwrite)


def catalogue_features(use: list[str], catalogue: Catalogue, trained_items: np.ndarray,
                       films: FilmsRun | None, link_min_items: int) -> Features:
    """The features `use` of every item of the catalogue (features.item_features): its id
    where `trained_items`, genres, and its film's links and vector from `films`."""
    return item_features(use, n_items=catalogue.n_items, trained_items=trained_items,
                         item_genres=catalogue.item_genres, item_film=catalogue.item_film,
                         film_links=films.film_links if films else None,
                         link_titles=films.link_titles if films else None,
                         film_vectors=films.vectors if films else None,
                         link_min_items=link_min_items)
