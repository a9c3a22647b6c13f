"""Transforms on hand-made DataFrames (no dump involved)."""

import math

import pytest

from spark_jobs import transforms
from spark_jobs.pairs import LinkFilms
from spark_jobs.wikitext import LIST_FIELDS


def rows(df, *cols):
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


def test_redirect_chains_loops_and_limits(spark):
    edges = spark.createDataFrame(
        [("A", "B"), ("B", "C"), ("C", "D"),  # chain of 3 to D
         ("E", "F"), ("F", "E"),  # loop
         ("G", "G"),  # self loop
         ("X", "E"),  # into a loop
         ("P", "Q"), ("Q", "R"), ("R", "P"),  # a loop of 3 (never back at its source
                                              # after 2^k hops: found by running out of hops)
         ("H", "Film")],
        "source string, target string",
    )
    resolved = transforms.resolve_redirects(edges, max_hops=16)
    got = rows(resolved, "source", "target", "hops", "status")
    resolved = {(s, t, h) for s, t, h, st in got if st == "resolved"}
    assert resolved == {("A", "D", 3), ("B", "D", 2), ("C", "D", 1), ("H", "Film", 1)}
    assert {s for s, _, _, st in got if st == "loop"} == {"E", "F", "G", "X", "P", "Q", "R"}
    short = rows(transforms.resolve_redirects(edges, max_hops=2), "source", "status")
    assert ("A", "too_long") in short and ("B", "resolved") in short


def test_redirect_rounds_stop_when_no_chain_is_left(spark, monkeypatch):
    """Direct redirects and loops end in the first rounds, not after log2(max_hops) + 1."""
    edges = spark.createDataFrame(
        [("A", "Film"), ("B", "Film"), ("E", "F"), ("F", "E"), ("G", "G")],
        "source string, target string",
    )
    rounds = []
    checkpoint = type(edges).localCheckpoint  # one materialisation a round

    def counted(self, *args, **kwargs):
        rounds.append(1)
        return checkpoint(self, *args, **kwargs)

    monkeypatch.setattr(type(edges), "localCheckpoint", counted)
    got = rows(transforms.resolve_redirects(edges, max_hops=16), "source", "status")
    assert got == [("A", "resolved"), ("B", "resolved"),
                   ("E", "loop"), ("F", "loop"), ("G", "loop")]
    assert len(rounds) == 2  # 5 if every round ran (max_hops 16)
    rounds.clear()
    direct = edges.filter("target = 'Film'")
    assert rows(transforms.resolve_redirects(direct, max_hops=16), "status") == [("resolved",)] * 2
    assert len(rounds) == 1


def test_links_min_count_stop_list_and_film_ids(spark):
    films = spark.createDataFrame([(0, "Alien"), (1, "Aliens"), (2, "Heat")],
                                  "film_id int, title string")
    targets = spark.createDataFrame(
        [(0, "Space"), (1, "Space"), (2, "Space"), (0, "Aliens"), (1, "Aliens"), (2, "Aliens"),
         (0, "United States"), (1, "United States"), (2, "United States"),
         (0, "Rare"), (1, "Rare")],
        "film_id int, target string",
    )
    links = transforms.build_links(targets, films, min_film_count=3, stop_list=["United States"])
    assert rows(links, "link_id", "title", "film_count", "film_id") == [
        (0, "Aliens", 3, 1), (1, "Space", 3, None)
    ]


def test_film_pairs_cap_and_min_shared(spark):
    film_links = spark.createDataFrame(
        [(0, 0, 1), (1, 0, 1), (2, 0, 1), (0, 1, 1), (1, 1, 1), (0, 2, 1), (2, 2, 1)],
        "film_id int, link_id int, count int",
    )
    links = spark.createDataFrame(
        [(0, "Everywhere", 3), (1, "Pair", 2), (2, "Other", 2)],
        "link_id int, title string, film_count int",
    )

    def film_pairs(max_link_films, min_shared):
        members = transforms.pair_members(film_links, links, max_link_films).toArrow()
        link_films = spark.sparkContext.broadcast(LinkFilms.from_arrow(members, 10))
        return transforms.build_film_pairs(film_links, link_films, min_shared)

    capped = film_pairs(max_link_films=2, min_shared=1)
    assert rows(capped, "film_a", "film_b", "shared") == [(0, 1, 1), (0, 2, 1)]
    both = film_pairs(max_link_films=5, min_shared=2)
    assert rows(both, "film_a", "film_b", "shared") == [(0, 1, 2), (0, 2, 2)]
    weight = both.filter("film_b = 1").first()["weight"]
    assert weight == pytest.approx(math.log(10 / 3) + math.log(10 / 2), rel=1e-6)


def test_pair_cap_lowers_the_cap_to_fit_the_budget():
    films_per_link = {2: 10, 5: 4, 50: 2, 900: 1, 5000: 3}  # film_count -> links
    # 10 * 1 + 4 * 10 + 2 * 1,225 + 404,550 pair rows under the cap of 1,000.
    cap, PairCap = transforms.pair_cap, transforms.PairCap
    assert cap(films_per_link, 1000, 0) == PairCap(1000, 17, 407_050, False)
    assert cap(films_per_link, 1000, 407_050).lowered is False
    assert cap(films_per_link, 1000, 3000) == PairCap(50, 16, 2500, True)
    assert cap(films_per_link, 10, 3000) == PairCap(10, 14, 50, False)
    # Not even the rarest links fit: no pairs at all rather than a blown budget.
    assert cap(films_per_link, 1000, 5) == PairCap(1, 0, 0, True)


def test_infobox_names_follow_redirects_in_order(spark):
    names = {field: [] for field in LIST_FIELDS}
    # Eleven cast names: positions 10 and 11 must stay after 2 (ordered as numbers, not text).
    cast = ["Cast 1", "C2", *[f"Cast {i}" for i in range(3, 12)]]
    first = {**names, "director": ["G. Lucas"], "starring": cast, "writer": ["G. Lucas", "Kasdan"]}
    second = {**names, "country": ["United States"]}  # no name redirects: kept as it is
    third = dict(names)  # no names at all
    films = spark.createDataFrame(
        [(0, "Star Wars", *first.values()), (1, "Heat", *second.values()),
         (2, "Empty", *third.values())],
        "film_id int, title string, " + ", ".join(f"{f} array<string>" for f in LIST_FIELDS),
    )
    redirects = spark.createDataFrame(
        [("G. Lucas", "George Lucas", 1, "resolved"), ("C2", "Cast 1", 1, "resolved"),
         ("Kasdan", "Lawrence Kasdan", 2, "resolved"), ("United States", "USA", 1, "loop")],
        "source string, target string, hops int, status string",
    )
    got = {r["film_id"]: r for r in transforms.resolve_infobox_names(films, redirects).collect()}
    assert got[0]["director"] == ["George Lucas"]
    assert got[0]["writer"] == ["George Lucas", "Lawrence Kasdan"]
    # "C2" resolves to the name already first: one entry, the rest in the infobox's order.
    assert got[0]["starring"] == ["Cast 1", *[f"Cast {i}" for i in range(3, 12)]]
    assert got[0]["producer"] == [] and got[1]["country"] == ["United States"]
    assert all(got[2][f] == [] for f in LIST_FIELDS)
    assert list(got[0].asDict()) == ["film_id", "title", *LIST_FIELDS]
