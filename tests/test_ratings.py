"""spark_jobs.ratings: MovieLens in its three layouts (and zipped) on tiny files, and the
linking rules on hand-written catalogue rows."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conf import load_config
from conf.manifest import RATINGS_KIND, RATINGS_SCHEMA_VERSION
from conf.outputs import OutputFolderError
from spark_jobs.inputs import InputError
from spark_jobs.movielens import film_title_parts, item_keys, parse_title
from spark_jobs.publish import UnfinishedOutputError
from spark_jobs.ratings import main, run
from tests.manifests import check_manifest

FILMS = [  # film_id, title, year
    (0, "The Usual Suspects", 1995), (1, "Seven (1995 film)", 1995),
    (2, "Seven (1979 film)", 1979), (3, "Amélie", 2001), (4, "Heat (1995 film)", 1995),
    (5, "Heat (1986 film)", 1986), (6, "Alien (film)", 1979), (7, "Crash (2004 film)", 2004),
    (8, "Crash (2005 film)", 2005), (9, "Twins (1988 film)", 1988),
    (10, "Twins (American film)", 1988), (11, "Dead Man Walking (film)", 1996),
    (12, "Star Wars (film)", 1977), (13, "Nosferatu", 1922),
]
REDIRECTS = [("Star Wars Episode IV: A New Hope", "Star Wars (film)"),
             ("Amelie", "Amélie")]
# item id, MovieLens title -> (film_id or None, how it was linked)
CATALOGUE = {
    1: ("Usual Suspects, The (1995)", 0, "title, same year"),
    2: ("Seven (Se7en) (1995)", 1, "title, same year"),
    3: ("Fabuleux destin d'Amélie Poulain, Le (Amélie) (2001)", 3,
        "alternative title, same year"),
    4: ("Heat (1995)", 4, "title, same year"),
    5: ("Alien (1979)", 6, "title, same year"),
    6: ("Crash (2004)", 7, "title, same year"),
    7: ("Twins (1988)", None, "ambiguous: 2 films"),
    8: ("Dead Man Walking (1995)", 11, "title, year ±1"),
    9: ("Star Wars: Episode IV - A New Hope (1977)", 12, "title via redirect, same year"),
    10: ("Nosferatu (1979)", None, "no film of that title and year"),
}


def write_tables(folder: Path) -> Path:
    (folder / "films").mkdir(parents=True)
    (folder / "redirects").mkdir()
    pq.write_table(pa.table({"film_id": pa.array([f[0] for f in FILMS], pa.int32()),
                             "title": [f[1] for f in FILMS],
                             "year": pa.array([f[2] for f in FILMS], pa.int32())}),
                   folder / "films" / "part-0.parquet")
    pq.write_table(pa.table({"source": [r[0] for r in REDIRECTS],
                             "target": [r[1] for r in REDIRECTS],
                             "hops": pa.array([1] * len(REDIRECTS), pa.int32())}),
                   folder / "redirects" / "part-0.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "kind": "wikifilms.tables", "schema_version": 1, "id": "tables-for-ratings",
        "tables": {"films": {"path": "films"}, "redirects": {"path": "redirects"}}}))
    return folder


def write_100k(folder: Path) -> Path:
    folder.mkdir(parents=True)
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_bytes("".join(
        f"{i}|{title}|01-Jan-1995|||{'0|1|' + '|'.join(['0'] * 17) if i == 1 else flags}\n"
        for i, (title, _, _) in CATALOGUE.items()).encode("latin-1"))
    rows = [(u, i, 1 + (u * i) % 5, 880000000 + u * 100 + i)
            for u in (1, 2, 3) for i in CATALOGUE]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows)
                                   + "4\tnot-an-item\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n"
                                   "3|23|M|writer|32067\n")
    return folder


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    return write_tables(tmp_path_factory.mktemp("tables") / "tables")


@pytest.fixture(scope="module")
def linked(spark, tables, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ml")
    release = write_100k(root / "ml-100k")
    out = root / "ratings"
    return out, run(spark, load_config("test"), str(release), str(tables), str(out))


def test_titles_as_movielens_and_wikipedia_write_them():
    assert parse_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        ["The City of Lost Children", "La Cité des enfants perdus"], 1995)
    assert parse_title("Misérables, Les (1995)") == (["Les Misérables"], 1995)
    assert parse_title("Babylon 5") == (["Babylon 5"], None)
    assert item_keys("Seven (Se7en) (1995)") == [("seven", "title"),
                                                 ("se7en", "alternative title")]
    assert item_keys("Wallace & Gromit: A Close Shave (1995)") == [
        ("wallace and gromit a close shave", "title")]
    assert film_title_parts("Heat (1995 American film)") == ("Heat", 1995)
    assert film_title_parts("Alien (film)") == ("Alien", None)
    assert film_title_parts("The Usual Suspects") == ("The Usual Suspects", None)


def test_each_item_is_linked_as_the_rules_say(linked):
    out, manifest = linked
    items = {r["source_id"]: r for r in pq.read_table(out / "items").to_pylist()}
    for item, (title, film, how) in CATALOGUE.items():
        row = items[str(item)]
        assert (row["title"], row["film_id"], row["linked_by"]) == (title, film, how), item
    assert items["1"]["genres"] == ["Action"] and items["1"]["year"] == 1995
    linking = manifest["linking"]
    assert (linking["items"], linking["items_linked"], linking["ambiguous"]) == (10, 8, 1)
    assert linking["share_of_ratings"] == pytest.approx(0.8)
    assert [e["title"] for e in linking["ambiguous_examples"]] == ["Twins (1988)"]
    assert [e["title"] for e in linking["unlinked_examples"]] == ["Nosferatu (1979)"]


def test_dense_ids_and_the_tables_contract(linked):
    out, manifest = linked
    ratings = pq.read_table(out / "ratings")
    assert ratings.schema.field("user_id").type == pa.int32()
    assert ratings.schema.field("rating").type == pa.float32()
    assert ratings.num_rows == 30 and manifest["lines_skipped"] == {
        "ratings_not_parsed": 1, "rating_not_finite": 0, "rating_out_of_scale": 0}
    assert manifest["scale"] == [0.5, 5.0] and manifest["duplicates"]["ratings_replaced"] == 0
    assert sorted(set(ratings["user_id"].to_pylist())) == [0, 1, 2]
    assert sorted(set(ratings["item_id"].to_pylist())) == list(range(10))
    users = pq.read_table(out / "users").to_pylist()
    assert users[1] == {"user_id": 1, "source_id": "2", "age": 53, "gender": "F",
                        "occupation": "other", "zip": "94043"}
    assert check_manifest(out, RATINGS_KIND, RATINGS_SCHEMA_VERSION) == manifest
    assert list(manifest["config"]) == ["ratings"]
    assert manifest["films_tables"]["id"] == "tables-for-ratings"


def test_the_dat_and_csv_layouts_and_a_zip(spark, tables, tmp_path):
    dat = tmp_path / "ml-1m"
    dat.mkdir()
    (dat / "movies.dat").write_bytes("1::Usual Suspects, The (1995)::Crime|Thriller\n"
                                     "2::Amélie (2001)::Comedy|Romance\n".encode("latin-1"))
    (dat / "ratings.dat").write_text("1::1::5::978300760\n1::2::4::978302109\n"
                                     "2::2::3::978301968\n")
    (dat / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    # The tables as a Hadoop URI: their manifest is read through Hadoop's file system.
    manifest = run(spark, load_config("test"), str(dat), f"file://{tables}",
                   str(tmp_path / "r1"))
    items = pq.read_table(tmp_path / "r1" / "items").to_pylist()
    assert [(i["title"], i["film_id"], i["genres"]) for i in items] == [
        ("Usual Suspects, The (1995)", 0, ["Crime", "Thriller"]),
        ("Amélie (2001)", 3, ["Comedy", "Romance"])]
    assert manifest["input"]["layout"] == "dat" and manifest["tables"]["ratings"]["rows"] == 3
    csv = tmp_path / "ml-latest-small"
    csv.mkdir()
    (csv / "movies.csv").write_text('movieId,title,genres\n1,"Heat (1995)",Action|Crime\n'
                                    '2,"Twins (1988)",(no genres listed)\n')
    (csv / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,964982703\n"
                                     "1,2,2.0,964981247\n")
    with zipfile.ZipFile(tmp_path / "ml-latest-small.zip", "w") as z:
        for f in csv.iterdir():
            z.write(f, f"ml-latest-small/{f.name}")
    manifest = run(spark, load_config("test"), str(tmp_path / "ml-latest-small.zip"),
                   str(tables), str(tmp_path / "r2"))
    items = pq.read_table(tmp_path / "r2" / "items").to_pylist()
    assert [(i["film_id"], i["genres"]) for i in items] == [(4, ["Action", "Crime"]), (None, [])]
    assert manifest["input"]["layout"] == "csv"
    ratings = pq.read_table(tmp_path / "r2" / "ratings").sort_by("item_id")
    assert ratings["rating"].to_pylist() == [4.5, 2.0]
    assert pq.read_table(tmp_path / "r2" / "users").column_names == ["user_id", "source_id"]


def _by_source(out: Path) -> dict[tuple[str, str], float]:
    """{(user source id, item source id): rating} of a written ratings folder."""
    users = dict(zip(*pq.read_table(out / "users", columns=["user_id", "source_id"])
                     .to_pydict().values(), strict=True))
    items = dict(zip(*pq.read_table(out / "items", columns=["item_id", "source_id"])
                     .to_pydict().values(), strict=True))
    rows = pq.read_table(out / "ratings").to_pylist()
    return {(users[r["user_id"]], items[r["item_id"]]): r["rating"] for r in rows}


# Issue 34: NaN, infinite and out-of-scale ratings were kept, and turned the rating model's
# every vector into NaN; a repeated (user, item) was kept twice.
def test_bad_rating_values_are_skipped_by_reason_and_a_repeat_keeps_the_latest(
        spark, tables, tmp_path):
    release = write_100k(tmp_path / "ml-100k")
    t = 880000000
    with open(release / "u.data", "a") as f:
        f.write(f"1\t1\tnan\t{t}\n1\t2\tinf\t{t}\n2\t1\t-3\t{t}\n2\t2\t0\t{t}\n"
                f"3\t1\t99\t{t}\n3\t2\t4\tyesterday\n")
        f.write(f"1\t3\t1\t{t + 100 + 3 + 50}\n")  # user 1 rates item 3 again, later: 1 wins
        f.write(f"1\t4\t2\t{t + 100 + 4}\n")  # the same second as before: the later line wins
        f.write(f"1\t5\t5\t{t + 100 + 5 - 10}\n")  # earlier than the first rating: ignored
    manifest = run(spark, load_config("test"), str(release), str(tables),
                   str(tmp_path / "out"))
    assert manifest["lines_skipped"] == {"ratings_not_parsed": 2, "rating_not_finite": 2,
                                         "rating_out_of_scale": 3}
    examples = manifest["skipped_examples"]
    assert sorted(e["rating"] for e in examples["rating_not_finite"]) == ["inf", "nan"]
    assert sorted(e["rating"] for e in examples["rating_out_of_scale"]) == ["-3", "0", "99"]
    assert manifest["duplicates"]["ratings_replaced"] == 3
    ratings = _by_source(tmp_path / "out")
    assert len(ratings) == 30
    assert (ratings["1", "3"], ratings["1", "4"], ratings["1", "5"]) == (1.0, 2.0, 1.0)
    assert all(0.5 <= r <= 5 for r in ratings.values())
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["scale"] == [0.5, 5.0]


def test_a_source_that_leaves_no_rating_is_refused_and_nothing_written(spark, tables,
                                                                         tmp_path):
    release = write_100k(tmp_path / "ml-100k")
    (release / "u.data").write_text("1\t1\tnan\t880000000\n1\t2\t7\t880000000\n")
    with pytest.raises(InputError, match=r"no ratings left to write \(2 lines read; "
                       r"1 rating not finite; 1 rating out of scale\)"):
        run(spark, load_config("test"), str(release), str(tables), str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()
    kept = write_100k(tmp_path / "ml-100k-b")
    with pytest.raises(InputError, match=r"30 distinct ratings, all dropped by k core \(30\)"):
        run(spark, load_config("test", ["ratings.min_user_ratings=1000"]), str(kept),
            str(tables), str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k", "ml-100k-b"]


def test_bad_inputs_are_one_line(spark, tables, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a MovieLens release .* nor an Amazon"):
        run(spark, load_config("test"), str(tmp_path / "empty"), str(tables),
            str(tmp_path / "r"))
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(InputError, match="not a readable zip"):
        run(spark, load_config("test"), str(tmp_path / "broken.zip"), str(tables),
            str(tmp_path / "r"))
    assert main(["--ratings", str(tmp_path / "empty"), "--tables", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "no such tables folder" in capsys.readouterr().err
    with pytest.raises(UnfinishedOutputError, match="no such tables folder"):
        run(spark, load_config("test"), str(tmp_path / "empty"), f"file://{tmp_path}/nope",
            str(tmp_path / "r"))
    (tmp_path / "half").mkdir()
    with pytest.raises(UnfinishedOutputError, match="has no manifest.json"):
        run(spark, load_config("test"), str(tmp_path / "empty"), f"file://{tmp_path}/half",
            str(tmp_path / "r"))
    with pytest.raises(OutputFolderError, match="holds the input"):
        run(spark, load_config("test"), str(tmp_path / "empty"), str(tables), str(tmp_path))


# --- Amazon reviews 2018 ------------------------------------------------------------------
PRODUCTS = {  # asin -> product title, the film it must link to (None: unlinked)
    "B1": ("Alien (Director's Cut) (DVD)", 6),
    "B2": ("Heat [Blu-ray]", None),  # two films titled Heat, and no year: ambiguous
    "B3": ("Amelie [DVD]", 3),
    "B4": ("Star Wars Episode IV: A New Hope (Widescreen Edition) VHS", 12),
    "B5": ("Cast Iron Skillet", None),
}
REVIEWS = [  # reviewer, asin, stars, year
    ("U1", "B1", 5, 2012), ("U1", "B2", 4, 2012), ("U1", "B3", 3, 2013),
    ("U2", "B1", 4, 2013), ("U2", "B2", 2, 2013), ("U2", "B4", 5, 2013),
    ("U3", "B1", 5, 2014), ("U3", "B3", 4, 2014),
    ("U4", "B5", 1, 2014),  # U4's only review: the 2-core drops U4, then B5
    ("U5", "B4", 5, 1999),  # before min_year: dropped, which leaves B4 one review
]


def write_amazon(folder: Path) -> Path:
    import datetime as dt
    import gzip

    folder.mkdir(parents=True)
    lines = [json.dumps({"reviewerID": u, "asin": a, "overall": float(s), "verified": True,
                         "unixReviewTime": int(dt.datetime(y, 6, 1).timestamp())})
             for u, a, s, y in REVIEWS]
    lines += ["{not json", json.dumps({"reviewerID": "U9", "asin": "B1"})]  # 2 bad lines
    with gzip.open(folder / "Movies_and_TV.json.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")
    with gzip.open(folder / "meta_Movies_and_TV.json.gz", "wt") as out:
        for asin, (title, _) in PRODUCTS.items():
            out.write(json.dumps({"asin": asin, "title": title,
                                  "category": ["Movies & TV", "Science Fiction"]}) + "\n")
    return folder


def test_amazon_reviews_with_years_k_core_and_packaging_stripped(spark, tables, tmp_path):
    release = write_amazon(tmp_path / "amazon")
    cfg = load_config("test", ["ratings.min_year=2000", "ratings.min_user_ratings=2",
                               "ratings.min_item_ratings=2"])
    manifest = run(spark, cfg, str(release), str(tables), str(tmp_path / "ratings"))
    assert manifest["input"]["layout"] == "amazon"
    assert manifest["lines_skipped"]["ratings_not_parsed"] == 2
    assert manifest["ratings_filtered"] == {"outside_years": 1, "k_core": 2}
    ratings = pq.read_table(tmp_path / "ratings" / "ratings").to_pylist()
    items = {r["source_id"]: r for r in pq.read_table(tmp_path / "ratings" / "items").to_pylist()}
    assert len(ratings) == 7 and set(items) == {"B1", "B2", "B3"}
    for asin, item in items.items():
        assert item["film_id"] == PRODUCTS[asin][1], (asin, item)
    assert items["B1"]["title"] == "Alien" and items["B1"]["genres"] == ["Science Fiction"]
    assert items["B2"]["linked_by"] == "ambiguous: 2 films"
