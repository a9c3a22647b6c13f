"""Reading a ratings folder (written by `python -m spark_jobs.ratings`) with pyarrow.

The folder's manifest cites the film tables its items were linked to; ratings linked to other
tables would put ratings on the wrong films, so they are refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from conf.errors import WikifilmsError
from conf.manifest import RATINGS_KIND, RATINGS_SCHEMA_VERSION, read_manifest


class RatingsError(WikifilmsError, ValueError):
    """A ratings folder the trainer cannot use; the message names it and the fix."""


@dataclass
class Ratings:
    """Ratings rows with the film each item is linked to (-1: not linked)."""

    folder: str
    manifest: dict
    user: np.ndarray  # int32 dense user ids
    item: np.ndarray  # int32 dense item ids
    film: np.ndarray  # int32 film ids of the tables, -1 where the item is not linked
    rating: np.ndarray  # float32


def read_ratings_manifest(folder: str | Path) -> dict:
    """The manifest of a finished ratings folder, or RatingsError."""
    return read_manifest(folder, RATINGS_KIND, RATINGS_SCHEMA_VERSION, "ratings",
                         "run `python -m spark_jobs.ratings` to produce it", RatingsError)


def load_ratings(folder: str | Path, tables_id: str | None = None) -> Ratings:
    """The ratings of `folder`; RatingsError when it is unfinished, unreadable, linked to
    other tables than `tables_id` (when given), or holds a rating that is not finite or lies
    outside the scale its manifest gives (a folder written before the ratings job skipped
    such lines: one of them turns every vector of a model into NaN)."""
    folder = Path(folder)
    manifest = read_ratings_manifest(folder)
    cited = (manifest.get("films_tables") or {}).get("id")
    if tables_id is not None and cited != tables_id:
        raise RatingsError(f"{folder} links its items to tables {str(cited)[:8]}, not to "
                           f"tables {tables_id[:8]}: run `python -m spark_jobs.ratings` "
                           "again with --tables pointing at the tables the run was trained on")
    try:
        ratings = pq.read_table(folder / manifest["tables"]["ratings"]["path"],
                                columns=["user_id", "item_id", "rating"])
        items = pq.read_table(folder / manifest["tables"]["items"]["path"],
                              columns=["item_id", "film_id"])
    except (OSError, KeyError, ValueError) as e:
        raise RatingsError(f"{folder}: cannot read its ratings or items table ({e}); run "
                           "`python -m spark_jobs.ratings` again") from e
    item = ratings["item_id"].to_numpy().astype(np.int32)
    film_of_item = np.full(int(items["item_id"].to_numpy().max(initial=-1)) + 1, -1, np.int32)
    film_of_item[items["item_id"].to_numpy()] = items["film_id"].fill_null(-1).to_numpy()
    if len(item) and item.max() >= len(film_of_item):
        raise RatingsError(f"{folder}: ratings name items the items table lacks; run "
                           "`python -m spark_jobs.ratings` again")
    rating = ratings["rating"].to_numpy(zero_copy_only=False).astype(np.float32)
    check_values(folder, rating, manifest.get("scale"))
    return Ratings(folder=str(folder), manifest=manifest,
                   user=ratings["user_id"].to_numpy().astype(np.int32), item=item,
                   film=film_of_item[item] if len(item) else item, rating=rating)


def check_values(folder: Path, rating: np.ndarray, scale: list[float] | None) -> None:
    """RatingsError naming how many ratings are NaN, infinite or (with `scale`) outside it."""
    bad = ~np.isfinite(rating)
    what = "NaN or infinite"
    if scale is not None:
        bad |= (rating < scale[0]) | (rating > scale[1])
        what += f" or outside the scale {scale[0]:g}-{scale[1]:g}"
    if bad.any():
        first = rating[np.flatnonzero(bad)[0]]
        raise RatingsError(f"{folder}: {int(bad.sum())} ratings are {what} (the first: "
                           f"{float(first)}): a model trained on them is NaN; run `python -m "
                           "spark_jobs.ratings` again, which skips and counts such lines")


def rating_scale(ratings: Ratings) -> list[float]:
    """[lowest, highest] stars of the ratings' source (its manifest's `scale`), or for a
    folder written before the manifest said, the lowest and highest rating it holds."""
    scale = ratings.manifest.get("scale")
    if scale:
        return [float(scale[0]), float(scale[1])]
    if not len(ratings.rating):
        return [0.0, 0.0]
    return [float(ratings.rating.min()), float(ratings.rating.max())]


@dataclass
class Catalogue:
    """The items and users of a ratings folder, row = dense id."""

    item_source: list[str]
    item_title: list[str | None]
    item_year: list[int | None]
    item_genres: list[list[str]]
    item_film: np.ndarray  # int32 film id of the tables, -1 where not linked
    user_source: list[str]

    @property
    def n_items(self) -> int:
        return len(self.item_source)

    @property
    def n_users(self) -> int:
        return len(self.user_source)


def load_catalogue(ratings: Ratings) -> Catalogue:
    """The items (source id, title, year, genres, film) and users (source id) of a ratings
    folder already opened by load_ratings."""
    folder = Path(ratings.folder)
    tables = ratings.manifest["tables"]
    try:
        items = pq.read_table(folder / tables["items"]["path"]).sort_by("item_id")
        users = pq.read_table(folder / tables["users"]["path"],
                              columns=["user_id", "source_id"]).sort_by("user_id")
    except (OSError, KeyError, ValueError) as e:
        raise RatingsError(f"{folder}: cannot read its items or users table ({e}); run "
                           "`python -m spark_jobs.ratings` again") from e
    for name, table, column in (("items", items, "item_id"), ("users", users, "user_id")):
        ids = table[column].to_numpy()
        if not np.array_equal(ids, np.arange(len(ids))):
            raise RatingsError(f"{folder}: the {name} table's ids are not dense 0..n-1; run "
                               "`python -m spark_jobs.ratings` again")
    genres = (items["genres"].to_pylist() if "genres" in items.column_names
              else [None] * items.num_rows)
    return Catalogue(
        item_source=[str(s) for s in items["source_id"].to_pylist()],
        item_title=items["title"].to_pylist(),
        item_year=items["year"].to_pylist() if "year" in items.column_names
        else [None] * items.num_rows,
        item_genres=[list(g or []) for g in genres],
        item_film=items["film_id"].fill_null(-1).to_numpy().astype(np.int32),
        user_source=[str(s) for s in users["source_id"].to_pylist()])
