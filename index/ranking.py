"""The ranking model in an index folder: films for a user, for someone who rated a few
films, and films like a film by the ratings model. numpy only (no TensorFlow at query time).

Files (copied from a ranking run by `build --ranking-run`, listed in the manifest's
"ranking" entry with their SHA-256 like every other file):
    ranking_users.npy, ranking_items.npy   score(u, i) = users[u] . items[i] (the items'
                                           last column is their bias, the users' is 1)
    ranking_history.npy                    what rating an item adds to a user (optional)
    ranking_rated_indptr.npy, ranking_rated_items.npy   the items each user rated (CSR)
    ranking_items.arrow                    item_id, source_id, title, year, film_id, film_title
    ranking_users.arrow                    user_id, source_id

A new user ("--rated TITLE=STARS ...") is folded in without retraining: the vector starts as
the mean history row of the items they rated (as the model makes every user), then a few
hundred steps of gradient ascent on the model's own pairwise objective fit it to the ratings:
each liked item (stars >= the run's min_rating) above every item not liked, with an L2 pull
towards the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from conf.errors import NotThereError, WikifilmsError
from index.folder import IndexFolderError, check_file, file_entry, read_arrow, write_arrow

FILES = {"users": "ranking_users.npy", "items": "ranking_items.npy",
         "history": "ranking_history.npy", "rated_indptr": "ranking_rated_indptr.npy",
         "rated_items": "ranking_rated_items.npy", "items_table": "ranking_items.arrow",
         "users_table": "ranking_users.arrow"}
# Where each file comes from in a ranking run's manifest ("embeddings" entry).
RUN_FILES = {"users": "users", "items": "items", "history": "history",
             "rated_indptr": "rated_indptr", "rated_items": "rated_items"}


class RankingError(WikifilmsError, ValueError):
    """A ranking query that cannot be answered; the message says what to give instead."""


class NotInRatings(NotThereError, RankingError):
    """A user or film the ratings do not have (the query's exit status 1, as a title not
    found)."""


@dataclass
class RatedItems:
    """What the ranking and rating models in an index share: the ratings' items and users."""

    rated_indptr: np.ndarray
    rated_items: np.ndarray
    items_table: pa.Table
    user_ids: dict[str, int]  # source id -> dense id
    # The ratings' [lowest, highest] stars; None in an index built before it was kept.
    scale: tuple[float, float] | None = None

    def check_stars(self, title: str, stars: float) -> None:
        """RankingError (a usage error) for stars outside the ratings' scale."""
        if self.scale is not None and not self.scale[0] <= stars <= self.scale[1]:
            raise RankingError(f"{title}={stars:g}: give stars from {self.scale[0]:g} to "
                               f"{self.scale[1]:g}, the ratings' scale")

    def rated_by(self, user: int) -> np.ndarray:
        return self.rated_items[self.rated_indptr[user]:self.rated_indptr[user + 1]]

    def describe(self, item: int) -> dict:
        row = self.items_table.slice(item, 1).to_pylist()[0]
        return {"item_id": item, "title": row["film_title"] or row["title"],
                "item_title": row["title"], "film_id": row["film_id"], "year": row["year"],
                "source_id": row["source_id"]}

    def items_of_film(self, film_id: int) -> list[int]:
        films = self.items_table.column("film_id").to_numpy(zero_copy_only=False)
        return np.flatnonzero(films == film_id).tolist()

    def items_titled(self, title: str) -> list[int]:
        """Items whose catalogue title is `title`, case and spacing aside."""
        wanted = " ".join(title.casefold().split())
        return [i for i, t in enumerate(self.items_table.column("title").to_pylist())
                if t and " ".join(t.casefold().split()) == wanted]


@dataclass
class Ranking(RatedItems):
    """An index folder's ranking model, opened (vectors memory-mapped)."""

    users: np.ndarray = None  # [n_users, dim + 1]
    items: np.ndarray = None  # [n_items, dim + 1]
    history: np.ndarray | None = None  # [n_items, dim]
    min_rating: float = 4.0

    @property
    def n_items(self) -> int:
        return len(self.items)


def user_id(ranking: RatedItems, source_id: str) -> int:
    try:
        return ranking.user_ids[source_id]
    except KeyError:
        raise NotInRatings(f"no user {source_id!r} in the ratings (give the data set's own "
                           "user id); for someone new give --rated TITLE=STARS instead") from None


def top_items(scores: np.ndarray, k: int, leave_out: np.ndarray) -> list[tuple[int, float]]:
    """The k best items by score, `leave_out` excluded, best first (ties by item id)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[leave_out] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    best = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, int)
    best = best[np.lexsort((best, -scores[best]))]
    return [(int(i), float(scores[i])) for i in best]


def for_user(ranking: Ranking, user: int, k: int) -> list[tuple[int, float]]:
    """The k items the user has not rated that the model scores highest."""
    return top_items(np.asarray(ranking.items) @ np.asarray(ranking.users[user]), k,
                     ranking.rated_by(user))


# The items not liked that a fold-in weighs each liked item against: all of them up to this
# many, else a fixed seeded sample of this many: the objective's mean over the others, by a
# uniform sample (its cost at MovieLens-25M's size: bench/README.md, "Real size").
FOLD_IN_OTHERS = 4096


def fold_in(ranking: Ranking, rated: dict[int, float], *, steps: int = 300,
            learning_rate: float = 0.5, l2: float = 0.01) -> np.ndarray:
    """A vector [dim + 1] for someone who gave `rated` (item -> stars), scored like a known
    user's (module docstring). RankingError when nothing rated is liked."""
    liked = np.array(sorted(i for i, stars in rated.items() if stars >= ranking.min_rating))
    if not len(liked):
        raise RankingError(f"none of the rated films has at least {ranking.min_rating:g} "
                           "stars: say which films the person liked")
    items = np.asarray(ranking.items, dtype=np.float64)
    dim = items.shape[1] - 1
    start = np.zeros(dim)
    if ranking.history is not None:
        start = np.asarray(ranking.history, dtype=np.float64)[sorted(rated)].mean(axis=0)
    others = np.ones(len(items), bool)
    others[liked] = False
    others = np.flatnonzero(others)
    if len(others) > FOLD_IN_OTHERS:
        others = np.sort(np.random.default_rng(len(items)).choice(others, FOLD_IN_OTHERS,
                                                                  replace=False))
    vectors, biases = items[:, :dim], items[:, dim]
    vector = start.copy()
    for _ in range(steps):
        scores_liked = vectors[liked] @ vector + biases[liked]
        scores_others = vectors[others] @ vector + biases[others]
        # d/du of mean over (liked p, other n) of log sigmoid(s_p - s_n).
        margin = scores_liked[:, None] - scores_others[None, :]
        weight = 1.0 / (1.0 + np.exp(margin))  # sigmoid(-margin)
        gradient = (weight.sum(axis=1) @ vectors[liked]
                    - weight.sum(axis=0) @ vectors[others]) / weight.size
        vector += learning_rate * (gradient - l2 * (vector - start))
    return np.r_[vector, 1.0].astype(np.float32)


def for_ratings(ranking: Ranking, rated: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The k best items for someone who gave `rated`, the rated ones left out."""
    vector = fold_in(ranking, rated)
    return top_items(np.asarray(ranking.items) @ vector, k, np.array(sorted(rated), int))


def similar_items(ranking: Ranking, items: list[int], k: int) -> list[tuple[int, float]]:
    """Items like the given ones by the ratings model: cosine of the item vectors (bias
    left out), to their mean."""
    vectors = np.asarray(ranking.items[:, :-1], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.maximum(norms, 1e-12)[:, None]
    centre = unit[items].mean(axis=0)
    centre /= max(np.linalg.norm(centre), 1e-12)
    return top_items(unit @ centre, k, np.array(items, int))


def parse_rated(arguments: list[str]) -> list[tuple[str, float]]:
    """["Alien (film)=5", ...] -> [("Alien (film)", 5.0), ...]; RankingError naming a bad one."""
    parsed = []
    for argument in arguments:
        title, sep, stars = argument.rpartition("=")
        try:
            value = float(stars)
        except ValueError:
            value = None
        if not sep or not title.strip() or value is None or not np.isfinite(value):
            raise RankingError(f"--rated {argument!r}: give TITLE=STARS, as "
                               "--rated \"Alien (film)=5\"")
        parsed.append((title.strip(), value))
    return parsed


def open_ranking(folder: Path, entry: dict) -> Ranking:
    """The ranking part of an index folder (every file checked against the manifest before
    it is read)."""
    paths = {role: check_file(folder, e) for role, e in entry["files"].items()}
    users_table = read_arrow(paths["users_table"])
    return Ranking(
        users=np.load(paths["users"], mmap_mode="r"),
        items=np.load(paths["items"], mmap_mode="r"),
        history=np.load(paths["history"], mmap_mode="r") if "history" in paths else None,
        rated_indptr=np.load(paths["rated_indptr"]),
        rated_items=np.load(paths["rated_items"], mmap_mode="r"),
        items_table=read_arrow(paths["items_table"]),
        user_ids={str(s): i for i, s in enumerate(users_table.column("source_id").to_pylist())},
        min_rating=float(entry["min_rating"]), scale=scale_of(entry))


def scale_of(entry: dict) -> tuple[float, float] | None:
    """The ratings' scale an index's model entry gives, if it gives one."""
    scale = entry.get("scale")
    return (float(scale[0]), float(scale[1])) if scale else None


def build_ranking(run_dir: Path, staging: Path, index_id: str, tables_id: str,
                  states: dict[str, list[int]]) -> dict:
    """Copy a ranking run's vectors and id tables into `staging`; the manifest entry.
    IndexFolderError when the run is unfinished or its items are linked to films of other
    tables than the index's."""
    from conf.manifest import RANKING_KIND, RANKING_SCHEMA_VERSION, read_manifest

    manifest = read_manifest(run_dir, RANKING_KIND, RANKING_SCHEMA_VERSION, "ranking run",
                             "train one with `python -m trainer rank`", IndexFolderError)
    try:
        files, counts = copy_model(run_dir, manifest, staging, index_id, tables_id, FILES,
                                   RUN_FILES, states)
        return {"files": files, "run": {"folder": str(run_dir.resolve()),
                                        "id": manifest["id"]},
                **counts, "min_rating": manifest["min_rating"],
                "features": manifest["features"], "scale": manifest.get("scale"),
                "auc": manifest["auc"]}
    except (KeyError, TypeError) as e:
        raise IndexFolderError(f"{run_dir / 'manifest.json'}: missing or bad field {e} "
                               "(written by another version?); train it again with `python "
                               "-m trainer rank`") from e


def check_finite(path: Path) -> None:
    """IndexFolderError when an array file (.npy, or each array of an .npz) holds NaN or infinity: a
    diverged model, whose every answer would be NaN."""
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            named = [(f"{path.name}[{k}]", arrays[k]) for k in arrays.files]
    else:
        named = [(path.name, np.load(path, mmap_mode="r"))]
    for name, array in named:
        bad = int(np.size(array) - np.isfinite(array).sum())
        if bad:
            raise IndexFolderError(
                f"{name}: {bad} values are NaN or infinite: the model diverged or was trained "
                "on bad ratings; train it again (`python -m spark_jobs.ratings` skips bad "
                "ratings since it counts them)")


def copy_model(run_dir: Path, manifest: dict, staging: Path, index_id: str, tables_id: str,
               files_to: dict[str, str], run_files: dict[str, str],
               states: dict[str, list[int]]) -> tuple[dict, dict]:
    """Copy a personalised run's arrays (`run_files`: role -> its manifest's "embeddings" key)
    and id tables into `staging` under the names `files_to`; (file entries, counts)."""
    import pyarrow.parquet as pq

    linked_to = (manifest["ratings"].get("films_tables") or {}).get("id")
    if linked_to != tables_id:
        raise IndexFolderError(f"{run_dir}: its items are linked to the films of tables "
                    f"{str(linked_to)[:8]}, the index's films are tables {tables_id[:8]}: "
                    "train it on ratings linked to the run's tables")
    emb = manifest["embeddings"]
    files = {}
    for role, source in run_files.items():
        if source in emb:
            target = staging / files_to[role]
            if target.suffix == ".npz":
                with np.load(run_dir / emb[source]) as arrays:
                    np.savez(target, **arrays)
            else:
                np.save(target, np.load(run_dir / emb[source], mmap_mode="r"))
            check_finite(target)
            files[role], states[files_to[role]] = file_entry(target)
    items = pq.read_table(run_dir / emb["item_ids"],
                          columns=["item_id", "source_id", "title", "year", "film_id",
                                   "film_title"])
    users = pq.read_table(run_dir / emb["user_ids"], columns=["user_id", "source_id"])
    for role, table in (("items_table", items), ("users_table", users)):
        write_arrow(staging / files_to[role], table, index_id)
        files[role], states[files_to[role]] = file_entry(staging / files_to[role])
    shapes = {role: np.load(staging / files_to[role], mmap_mode="r").shape
              for role in ("users", "items")}
    if shapes["items"][0] != items.num_rows or shapes["users"][0] != users.num_rows:
        raise IndexFolderError(f"{run_dir}: vectors {shapes} do not match its {items.num_rows} "
                               f"items and {users.num_rows} users; train it again")
    return files, {"users": users.num_rows, "items": items.num_rows,
                   "dim": shapes["items"][1]}
