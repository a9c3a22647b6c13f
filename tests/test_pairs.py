"""pairs.py, the numpy pair kernel, against a plain Python count (no Spark)."""

import math
import random
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from spark_jobs.pairs import PAIR_SCHEMA, LinkFilms, film_pairs, pair_batches


def index_of(rows, n_films, max_link_films):
    """LinkFilms of the links in `rows` (film, link) on at most max_link_films films."""
    films_of = defaultdict(set)
    for film, link in rows:
        films_of[link].add(film)
    used = [(link, film, len(films)) for link, films in films_of.items()
            if len(films) <= max_link_films for film in films]
    columns = list(zip(*used, strict=True)) if used else ([], [], [])
    return LinkFilms.build(*columns, n_films), films_of


def counted(rows, n_films, max_link_films, min_shared):
    """(film_a, film_b) -> (shared, weight), counted pair by pair."""
    _, films_of = index_of(rows, n_films, max_link_films)
    shared, weight = Counter(), defaultdict(float)
    for films in films_of.values():
        if len(films) > max_link_films:
            continue
        for a in films:
            for b in films:
                if a < b:
                    shared[a, b] += 1
                    weight[a, b] += math.log(n_films / len(films))
    return {p: (n, weight[p]) for p, n in shared.items() if n >= min_shared}


def as_dict(batches):
    table = pa.Table.from_batches(list(batches), schema=PAIR_SCHEMA)
    assert table.schema == PAIR_SCHEMA
    d = table.to_pydict()
    keys = list(zip(d["film_a"], d["film_b"], strict=True))
    assert keys == sorted(keys), "each task's pairs come out ordered by (film_a, film_b)"
    return {k: (n, w) for k, n, w in zip(keys, d["shared"], d["weight"], strict=True)}


def random_rows(seed, n_films=60, n_links=40):
    rng = random.Random(seed)
    # Heavy-tailed: a few links on most films, most on a few.
    return sorted({(rng.randrange(n_films), min(int(rng.paretovariate(0.8)), n_links))
                   for _ in range(900)})


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("block_rows", [1, 7, 1_000_000])
def test_pairs_match_a_plain_count_whatever_the_blocks(seed, block_rows):
    rows = random_rows(seed)
    index, _ = index_of(rows, 60, max_link_films=25)
    films, links = (np.array(c) for c in zip(*rows, strict=True))
    got = as_dict(film_pairs(films, links, index, 2, block_rows=block_rows))
    want = counted(rows, 60, 25, 2)
    assert got.keys() == want.keys() and len(got) > 20
    for pair, (shared, weight) in want.items():
        assert got[pair][0] == shared
        assert got[pair][1] == pytest.approx(weight, rel=1e-6)


def test_a_films_rows_may_arrive_in_any_batch_in_any_order():
    rows = random_rows(4)
    index, _ = index_of(rows, 60, max_link_films=60)
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    batches = [pa.RecordBatch.from_pydict({"film_id": [f for f, _ in part],
                                           "link_id": [k for _, k in part]})
               for part in (shuffled[i:i + 100] for i in range(0, len(shuffled), 100))]
    films, links = (np.array(c) for c in zip(*rows, strict=True))
    assert as_dict(pair_batches(batches, index, 1)) == as_dict(film_pairs(films, links, index, 1))


def test_only_used_links_make_pairs_and_min_shared_filters():
    # Films 0-3. Link 0 on all four (over the cap of 3), link 1 on 0 and 1, link 2 on 0, 1 and 2.
    rows = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (0, 2), (1, 2), (2, 2)]
    index, _ = index_of(rows, 10, max_link_films=3)
    films, links = (np.array(c) for c in zip(*rows, strict=True))
    got = as_dict(film_pairs(films, links, index, 1))
    assert {p: n for p, (n, _) in got.items()} == {(0, 1): 2, (0, 2): 1, (1, 2): 1}
    assert got[0, 1][1] == pytest.approx(math.log(10 / 2) + math.log(10 / 3), rel=1e-6)
    assert list(as_dict(film_pairs(films, links, index, 2))) == [(0, 1)]


def test_no_rows_or_no_used_links_make_no_pairs():
    empty = LinkFilms.build([], [], [], 5)
    assert list(pair_batches([], empty, 1)) == []
    assert as_dict(film_pairs(np.array([0, 1]), np.array([3, 3]), empty, 1)) == {}
