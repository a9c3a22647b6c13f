"""Full-size inputs, generated and seeded: tables of the English Wikipedia's shape and ratings
in MovieLens-25M's layout and size, linked to each other by title and year.

    tables (make_tables)   170,000 films, ~500,000 kept links, ~15M film-link rows: each film
                           in one of 2,000 clusters (franchises, eras, crews) links ~60 links
                           of its cluster's pool, a few popular links (link 0, "United
                           States", on ~90 % of films, then a Zipf tail) and a few drawn from
                           all links; years, directors (of the cluster), genres, titles made
                           of words with Wikipedia's qualifiers where two films share a title
                           ("Heat (1995 film)"), redirects from plain titles and alternatives
    ratings (make_ratings) ratings.csv and movies.csv as GroupLens writes ML-25M: 162,541
                           users (each >= 20 ratings, lognormal activity), 59,047 items
                           (lognormal popularity; 60 % titled after films of the tables, so
                           that they link, "Title, The (1995)" as MovieLens writes it), about
                           25,000,095 ratings in half stars; each user likes 5 clusters and
                           rates their films higher: the taste a model must find

Everything is numpy, vectorised: the 25M ratings take about a minute. Nothing here is read
by the stages but the files they would read from GroupLens and the ingestion job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

FILMS, LINKS, CLUSTERS = 170_000, 520_000, 2_000
USERS, ITEMS, RATINGS = 162_541, 59_047, 25_000_095
LINKED_SHARE = 0.6
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")
# Words of film titles and of the catalogue's unlinked titles: two vocabularies, so that an
# unlinked item never meets a film's title by chance.
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "zu", "bel", "cor", "dan", "fer", "gal",
              "hin", "jor", "kel", "lum", "mar", "nor", "pel", "quin", "ros", "sal", "tor",
              "ul", "var", "wen", "xan", "yor", "zel")


def _words(rng: np.random.Generator, n: int, prefix: str) -> np.ndarray:
    parts = rng.integers(0, len(_SYLLABLES), (n, 3))
    return np.array([prefix + "".join(_SYLLABLES[p] for p in row).capitalize() for row in parts])


def _titles(rng: np.random.Generator, n: int, words: np.ndarray) -> list[str]:
    """n titles of 1-3 words; about one in six repeats an earlier one (remakes, namesakes)."""
    lengths = rng.choice([1, 2, 3], n, p=[0.3, 0.5, 0.2])
    picks = rng.integers(0, len(words), (n, 3))
    titles = [" ".join(words[picks[i, :lengths[i]]]) for i in range(n)]
    repeats = rng.random(n) < 0.16
    earlier = rng.integers(0, np.maximum(np.arange(n), 1))
    for i in np.flatnonzero(repeats & (np.arange(n) > 0)):
        titles[i] = titles[earlier[i]]
    the = rng.random(n) < 0.15
    return [f"The {t}" if a else t for t, a in zip(titles, the, strict=True)]


def _write_tables(folder: Path, tables: dict[str, pa.Table], table_id: str) -> None:
    for name, table in tables.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name / "part-00000.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.tables", "schema_version": 1, "id": table_id,
        "generated_by": "bench.scale_data.make_tables",
        "tables": {name: {"path": name, "rows": t.num_rows, "columns": t.column_names}
                   for name, t in tables.items()}}, indent=2))


def make_tables(folder: Path, seed: int = 0) -> dict:
    """The tables folder (module docstring); returns its counts."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, CLUSTERS, FILMS)
    # Links per film: lognormal around 90 (Wikipedia's films: ~50-400 wikilinks).
    per_film = np.clip(rng.lognormal(np.log(88), 0.5, FILMS), 12, 400).astype(np.int64)
    n_rows = int(per_film.sum())
    film = np.repeat(np.arange(FILMS), per_film)
    kind = rng.random(n_rows)
    # Clusters lie on a ring: cluster c's links come from a window of 1,200 links starting at
    # c x 255 (neighbouring clusters share most of theirs, as an era or a crew does), the
    # window's start more often than its end.
    window = (cluster[film] * 255 + (1200 * rng.random(n_rows) ** 2).astype(np.int64)) % LINKS
    popular = 5 + np.minimum(rng.zipf(1.1, n_rows) - 1, LINKS - 6)
    link = np.where(kind < 0.85, window, popular)
    # The most common links: "United States" on ~90 % of films, then a few more.
    heads = [(0, 0.9), (1, 0.55), (2, 0.4), (3, 0.3), (4, 0.2)]
    chosen = [np.flatnonzero(rng.random(FILMS) < p) for _, p in heads]
    extra_film = np.concatenate(chosen)
    extra_link = np.concatenate([np.full(len(c), h) for c, (h, _) in zip(chosen, heads,
                                                                          strict=True)])
    keys = np.unique(np.concatenate([film * LINKS + link, extra_film * LINKS + extra_link]))
    film, link = keys // LINKS, keys % LINKS
    counts = np.bincount(link, minlength=LINKS)
    kept = counts >= 3  # links.min_film_count
    new_id = np.cumsum(kept) - 1
    # Dense link ids, the most-linked first (as the ingestion job numbers them).
    order = np.argsort(-counts[kept], kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    keep_rows = kept[link]
    film, link = film[keep_rows], rank[new_id[link[keep_rows]]]
    n_links = int(kept.sum())
    link_counts = np.bincount(link, minlength=n_links)
    word_rng = np.random.default_rng(seed + 1)
    film_words = _words(word_rng, 6000, "")
    base = _titles(word_rng, FILMS, film_words)
    year = rng.integers(1915, 2026, FILMS)
    titles = _qualified(base, year)
    directors = _words(word_rng, CLUSTERS * 3, "Dir ")
    director = directors[cluster * 3 + rng.integers(0, 3, FILMS)]
    genre_of_cluster = rng.integers(0, len(GENRES), (CLUSTERS, 2))
    link_titles = np.char.add("Link ", np.arange(n_links).astype(str)).astype(object)
    link_titles[:5] = ["United States", "English language", "Variety (magazine)",
                       "Rotten Tomatoes", "Category:American films"]
    # Redirects: plain titles of qualified films whose plain title is unique elsewhere, and an
    # alternative title for one film in five.
    sources = [f"{b} ({y})" for b, y in zip(base, year, strict=True)]
    alternative = np.flatnonzero(rng.random(FILMS) < 0.2)
    redirect_source = [sources[i] for i in alternative]
    redirect_target = [titles[i] for i in alternative]
    tables = {
        "films": pa.table({
            "film_id": pa.array(np.arange(FILMS, dtype=np.int32)),
            "page_id": pa.array(np.arange(FILMS, dtype=np.int64) * 7 + 1000),
            "title": titles,
            "year": pa.array(year.astype(np.int32)),
            "director": pa.array([[d] for d in director], pa.list_(pa.string())),
            "genre": pa.array([[GENRES[g] for g in genre_of_cluster[c]] for c in cluster],
                              pa.list_(pa.string())),
            "n_links": pa.array(np.bincount(film, minlength=FILMS).astype(np.int32)),
        }),
        "links": pa.table({
            "link_id": pa.array(np.arange(n_links, dtype=np.int32)),
            "title": pa.array(link_titles.tolist(), pa.string()),
            "film_count": pa.array(link_counts.astype(np.int32)),
            "film_id": pa.array(np.full(n_links, None), pa.int32()),
        }),
        "film_links": pa.table({
            "film_id": pa.array(film.astype(np.int32)),
            "link_id": pa.array(link.astype(np.int32)),
            "count": pa.array(np.minimum(rng.zipf(2.0, len(film)), 50).astype(np.int32)),
        }),
        "redirects": pa.table({"source": redirect_source, "target": redirect_target,
                               "hops": pa.array(np.ones(len(alternative), np.int32))}),
    }
    _write_tables(folder, tables, f"scale-tables-{seed}")
    np.save(folder / "clusters.npy", cluster.astype(np.int32))  # the planted truth
    return {"films": FILMS, "links": n_links, "film_links": len(film),
            "most_common_link_share": float(link_counts[0] / FILMS),
            "redirects": len(alternative)}


def _qualified(base: list[str], year: np.ndarray) -> list[str]:
    """Wikipedia's titles: a base title once is itself; shared by films of different years,
    "(YEAR film)"; shared within a year too, "(YEAR film N)" (rare)."""
    from collections import Counter

    by_title = Counter(base)
    by_year = Counter(zip(base, year.tolist(), strict=True))
    seen: Counter = Counter()
    out = []
    for title, y in zip(base, year.tolist(), strict=True):
        if by_title[title] == 1:
            out.append(title)
        elif by_year[(title, y)] == 1:
            out.append(f"{title} ({y} film)")
        else:
            seen[(title, y)] += 1
            out.append(f"{title} ({y} film {seen[(title, y)]})")
    return out


def _movielens_title(title: str) -> str:
    """"The Usual Suspects" -> "Usual Suspects, The" (MovieLens puts articles last)."""
    return f"{title[4:]}, The" if title.startswith("The ") else title


def make_ratings(folder: Path, tables: Path, seed: int = 0) -> dict:
    """ratings.csv and movies.csv in `folder` (module docstring); returns their counts."""
    rng = np.random.default_rng(seed + 10)
    films = pq.read_table(tables / "films", columns=["film_id", "title", "year"])
    film_title = films["title"].to_pylist()
    film_year = films["year"].to_numpy()
    cluster_of_film = np.load(tables / "clusters.npy")
    n_linked = int(round(LINKED_SHARE * ITEMS))
    # Linked items: distinct films (those with the most links more often, as the films people
    # rate are the well-documented ones); their title is the film's, its qualifier dropped.
    linked_films = rng.choice(FILMS, n_linked, replace=False)
    item_cluster = np.concatenate([cluster_of_film[linked_films],
                                   rng.integers(0, CLUSTERS, ITEMS - n_linked)])
    item_year = np.concatenate([film_year[linked_films],
                                rng.integers(1915, 2020, ITEMS - n_linked)])
    plain = [t.split(" (")[0] if t.endswith("film)") else t
             for t in (film_title[f] for f in linked_films)]
    other_words = _words(np.random.default_rng(seed + 11), 4000, "Q")
    plain += _titles(np.random.default_rng(seed + 12), ITEMS - n_linked, other_words)
    order = rng.permutation(ITEMS)  # linked and unlinked items mixed in the id order
    item_cluster, item_year = item_cluster[order], item_year[order]
    plain = [plain[i] for i in order]
    movie_id = np.sort(rng.choice(np.arange(1, 210_000), ITEMS, replace=False))
    genre_of_cluster = rng.integers(0, len(GENRES), (CLUSTERS, 2))
    genres = ["|".join(sorted({GENRES[g] for g in genre_of_cluster[c]})) for c in item_cluster]
    pcsv.write_csv(pa.table({
        "movieId": pa.array(movie_id), "title": [f"{_movielens_title(t)} ({y})"
                                                 for t, y in zip(plain, item_year, strict=True)],
        "genres": genres}), folder / "movies.csv")

    # Users: activity lognormal, at least 20. Each likes the clusters around a centre on the
    # clusters' ring (the tables' clusters share links with their neighbours), more of them
    # the more the user rates; 60 % of a user's ratings come from there, the rest by
    # popularity.
    activity = rng.lognormal(np.log(60), 1.15, USERS)
    activity = 20 + np.round(activity * (RATINGS * 1.06 - 20 * USERS) / activity.sum())
    activity = activity.astype(np.int64)
    centre = rng.integers(0, CLUSTERS, USERS)
    width = 2 + activity / 150
    popularity = rng.lognormal(0, 1.6, ITEMS)
    by_cluster = np.argsort(item_cluster, kind="stable")
    starts = np.searchsorted(item_cluster[by_cluster], np.arange(CLUSTERS + 1))
    cum = np.concatenate([[0.0], np.cumsum(popularity[by_cluster])])
    global_cdf = np.cumsum(popularity) / popularity.sum()

    def draw(user: np.ndarray) -> np.ndarray:
        n = len(user)
        wanted = (centre[user] + np.round(rng.normal(0, 1, n) * width[user]).astype(np.int64)
                  ) % CLUSTERS
        low, high = cum[starts[wanted]], cum[starts[wanted + 1]]
        pick = np.searchsorted(cum, low + rng.random(n) * (high - low), side="right") - 1
        taste = by_cluster[np.clip(pick, 0, ITEMS - 1)]
        popular = np.minimum(np.searchsorted(global_cdf, rng.random(n)), ITEMS - 1)
        return np.where((rng.random(n) < 0.6) & (starts[wanted] < starts[wanted + 1]),
                        taste, popular)

    # A user's draws repeat items (popular ones, a narrow taste): draw again for the users
    # short of their activity until (nearly) every one has it.
    keys = np.zeros(0, np.int64)
    short = np.repeat(np.arange(USERS), activity)
    for _ in range(30):
        keys = np.unique(np.concatenate([keys, short * ITEMS + draw(short)]))
        have = np.bincount(keys // ITEMS, minlength=USERS)
        missing = np.maximum(activity - have, 0)
        if not missing.any():
            break
        short = np.repeat(np.arange(USERS), np.ceil(missing * 1.3).astype(np.int64))
    user, item = keys // ITEMS, keys % ITEMS
    if len(user) > RATINGS:  # trim at random, never a user below 20
        counts = np.bincount(user, minlength=USERS)
        spare = np.flatnonzero(counts[user] > 25)
        drop = rng.choice(spare, len(user) - RATINGS, replace=False)
        keep = np.ones(len(user), bool)
        keep[drop] = False
        user, item = user[keep], item[keep]
    distance = np.abs(item_cluster[item] - centre[user])
    likes = np.minimum(distance, CLUSTERS - distance) <= width[user]
    score = (3.2 + 1.1 * likes + rng.normal(0, 0.3, ITEMS)[item]
             + rng.normal(0, 0.35, USERS)[user] + rng.normal(0, 0.75, len(user)))
    stars = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
    timestamp = rng.integers(789_652_009, 1_574_327_703, len(user))
    pcsv.write_csv(pa.table({"userId": pa.array(user + 1), "movieId": pa.array(movie_id[item]),
                             "rating": pa.array(stars), "timestamp": pa.array(timestamp)}),
                   folder / "ratings.csv")
    return {"users": int(len(np.unique(user))), "items": ITEMS, "ratings": int(len(user)),
            "items_titled_after_films": n_linked,
            "min_ratings_a_user": int(np.bincount(user).min())}
