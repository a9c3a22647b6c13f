"""Index build and query: hand-placed points with known neighbours, seed determinism, recall
against brute force, title lookup, and the CLI with every bad input the issue lists."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.synthetic_run import (
    add_film_links,
    clustered_vectors,
    write_run,
    write_tables_with_redirects,
)
from conf import load_config
from conf.manifest import INDEX_KIND, INDEX_SCHEMA_VERSION
from index.build import build_index
from index.cli import main
from index.folder import IndexFolderError, open_index
from index.lookup import alias_table, fold
from index.query import nearest
from index.recall import exact_neighbours
from tests.manifests import check_manifest

ROOT = Path(__file__).resolve().parents[1]

# Hand-placed films on the unit circle (angle in degrees) plus a far-off third axis: the
# neighbours of each are known by looking at the angles.
FILMS = {
    "Star Wars (film)": 0, "The Empire Strikes Back": 10, "Return of the Jedi": 21,
    "Heat (1995 film)": 90, "Heat (1986 film)": 103, "Amélie": 187, "Alien (film)": 268,
    "Aliens (film)": 275,
}
LINKS = {"George Lucas": 0, "Lucasfilm": 15, "Michael Mann": 95, "Paris": 180,
         "Category:Science fiction films": 250}
REDIRECTS = {"Star Wars Episode IV": "Star Wars (film)",
             "Star Wars: A New Hope": "Star Wars (film)",
             "Lucas, George": "George Lucas", "Nowhere page": "Not a film"}


def circle(angles: list[float]) -> np.ndarray:
    radians = np.deg2rad(np.array(angles, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians), np.full(len(radians), 0.01)], 1)


@pytest.fixture(scope="module")
def icfg():
    return load_config("test")


@pytest.fixture(scope="module")
def hand_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hand")
    tables = write_tables_with_redirects(root / "tables", REDIRECTS)
    return write_run(root / "run", circle(list(FILMS.values())), list(FILMS),
                     circle(list(LINKS.values())), list(LINKS), tables=tables,
                     years=[1977, 1980, 1983, 1995, 1986, 2001, 1979, 1986],
                     directors=["George Lucas", "Irvin Kershner", "Richard Marquand",
                                "Michael Mann", "Kevin Hooks", "Jean-Pierre Jeunet",
                                "Ridley Scott", "James Cameron"])


@pytest.fixture(scope="module")
def hand_index(hand_run, icfg, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hand-index") / "index"
    build_index(hand_run, out, icfg)
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_hand_placed_films_have_their_known_neighbours(hand_index):
    films = open_index(hand_index, "films")
    star_wars = list(FILMS).index("Star Wars (film)")
    answer = nearest(films, [star_wars], 3)
    assert [n.title for n in answer] == ["The Empire Strikes Back", "Return of the Jedi",
                                        "Aliens (film)"]
    assert star_wars not in [n.id for n in nearest(films, [star_wars], 7)]
    assert answer[0].similarity == pytest.approx(np.cos(np.deg2rad(10)), abs=1e-3)
    assert answer[0].facts["year"] == 1980 and answer[0].facts["director"] == "Irvin Kershner"


def test_several_titles_answer_with_the_mean_and_leave_the_inputs_out(hand_index):
    films = open_index(hand_index, "films")
    ids = [list(FILMS).index(t) for t in ("Star Wars (film)", "Heat (1995 film)")]
    answer = [n.title for n in nearest(films, ids, 3)]
    # The mean points at 45 degrees: 21 and 10 are nearest, then 103.
    assert answer == ["Return of the Jedi", "The Empire Strikes Back", "Heat (1986 film)"]


def test_exact_search_agrees_with_annoy_on_hand_placed_points(hand_index):
    films = open_index(hand_index, "films")
    for i in range(len(FILMS)):
        assert ([n.id for n in nearest(films, [i], 4, exact=False)]
                == [n.id for n in nearest(films, [i], 4, exact=True)])


def test_the_same_seed_gives_the_same_index(tmp_path, icfg):
    vectors = clustered_vectors(500, 8, 10, 0.5, seed=1)
    titles = [f"Film {i}" for i in range(500)]
    run = write_run(tmp_path / "run", vectors, titles, vectors[:50], titles[:50])

    def ann_digest(out: Path, *overrides: str) -> str:
        build_index(run, out, load_config("test", overrides))
        return hashlib.sha1((out / "films.ann").read_bytes()).hexdigest()

    first = ann_digest(tmp_path / "a")
    assert ann_digest(tmp_path / "b") == first
    assert ann_digest(tmp_path / "c", "index.seed=7") != first  # the check can fail


def test_recall_against_brute_force_on_clustered_vectors(tmp_path, icfg):
    vectors = clustered_vectors(3000, 16, 40, 0.6, seed=2)
    titles = [f"Film {i}" for i in range(3000)]
    run = write_run(tmp_path / "run", vectors, titles, vectors[:100], titles[:100])
    manifest = build_index(run, tmp_path / "index",
                           load_config("test", ["index.prefer_exact_when_faster=false"]))
    assert manifest["films"]["recall"]["recall"] >= 0.99
    # Independently of the build's own measurement: the query path against brute force.
    films = open_index(tmp_path / "index", "films")
    queries = np.arange(0, 3000, 15)
    truth = exact_neighbours(vectors, vectors[queries], 10, exclude=queries)
    found = [[n.id for n in nearest(films, [int(q)], 10, exact=False)] for q in queries]
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth.tolist(), found, strict=True))
    assert hits / truth.size >= 0.98
    assert all(f == [n.id for n in nearest(films, [int(q)], 10, exact=True)]
               for q, f in zip(queries[:5], truth[:5].tolist(), strict=True))


def test_on_disk_build_answers_like_brute_force(tmp_path, hand_run):
    build_index(hand_run, tmp_path / "disk", load_config("test", ["index.on_disk_build=true"]))
    disk = open_index(tmp_path / "disk", "films")
    for i in range(len(FILMS)):
        assert ([n.id for n in nearest(disk, [i], 3, exact=False)]
                == [n.id for n in nearest(disk, [i], 3, exact=True)])


def test_tuning_raises_search_k_until_the_target_recall(tmp_path):
    # Diffuse vectors with two trees: Annoy's default search_k misses most neighbours.
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 32))
    titles = [f"Film {i}" for i in range(2000)]
    run = write_run(tmp_path / "run", vectors, titles, vectors[:20], titles[:20])
    annoy_only = ["index.n_trees=2", "index.prefer_exact_when_faster=false"]
    untuned = build_index(run, tmp_path / "a", load_config(
        "test", [*annoy_only, "index.tune_search_k=false"]))["films"]["recall"]
    tuned = build_index(run, tmp_path / "b", load_config("test", annoy_only))["films"]["recall"]
    assert untuned["recall"] < 0.9 and untuned["search_k"] == 2 * 11
    assert tuned["recall"] >= 0.99 and tuned["search_k"] > untuned["search_k"]
    assert tuned["configured_recall"] == pytest.approx(untuned["recall"])
    assert tuned["search"] == untuned["search"] == "annoy"


def test_brute_force_answers_where_annoy_is_not_faster(tmp_path, capsys):
    # 2,000 diffuse vectors: reaching 0.99 means reading nearly every node, far slower than
    # one 2,000 x 32 product. The build says so and the query answers exactly by default.
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 32))
    titles = [f"Film {i}" for i in range(2000)]
    run = write_run(tmp_path / "run", vectors, titles, vectors[:20], titles[:20])
    manifest = build_index(run, tmp_path / "index", load_config("test", ["index.n_trees=2"]))
    recall = manifest["films"]["recall"]
    assert recall["search"] == "exact"
    assert recall["search_k"] < 2000 * 2  # stopped before reading every node
    films = open_index(tmp_path / "index", "films")
    assert films.exact_by_default
    assert ([n.id for n in nearest(films, [5], 10)]
            == [n.id for n in nearest(films, [5], 10, exact=True)])
    code, out, _ = run_cli(capsys, "query", "--index", str(tmp_path / "index"), "Film 5")
    assert code == 0 and "(exact search" in out.splitlines()[0]
    code, out, _ = run_cli(capsys, "query", "--index", str(tmp_path / "index"), "Film 5",
                           "--annoy")
    assert code == 0 and "(Annoy" in out.splitlines()[0]


# --- title lookup ---------------------------------------------------------------------------

@pytest.mark.parametrize("typed, title, how", [
    ("Star Wars (film)", "Star Wars (film)", "title"),
    ("Star_Wars_(film)", "Star Wars (film)", "normalised title"),
    ("star_wars_(film)", "Star Wars (film)", "case-folded title"),
    ("STAR WARS (FILM)", "Star Wars (film)", "case-folded title"),
    ("Star Wars Episode IV", "Star Wars (film)", "redirect"),
    ("star wars: a new hope", "Star Wars (film)", "case-folded redirect"),
    ("Amelie", "Amélie", "case-folded title"),
    ("Alien", "Alien (film)", "title without qualifier"),
    ("  Return_of_the  Jedi ", "Return of the Jedi", "normalised title"),
])
def test_titles_are_found_the_ways_a_user_types_them(hand_index, typed, title, how):
    films = open_index(hand_index, "films")
    found = films.lookup.resolve(typed)
    assert (films.title(found.id), found.how) == (title, how)


def test_a_shared_base_title_is_ambiguous(hand_index):
    films = open_index(hand_index, "films")
    found = films.lookup.resolve("heat")
    assert found.ambiguous
    assert sorted(films.title(i) for i in found.candidates) == ["Heat (1986 film)",
                                                               "Heat (1995 film)"]


def test_unknown_titles_get_suggestions(hand_index):
    films = open_index(hand_index, "films")
    found = films.lookup.resolve("Empire Strikes Bak")
    assert found.id is None and not found.ambiguous
    assert found.suggestions[0] == "The Empire Strikes Back"


def test_alias_table_keeps_redirects_to_known_titles_only():
    table = alias_table(["A (film)", "B"], {"A film": "A (film)", "X": "Nowhere", "B": "A (film)"})
    rows = set(zip(table["key"].to_pylist(), table["id"].to_pylist(),
                   table["via"].cast("string").to_pylist(), strict=True))
    # "B" is a title itself, so its (stale) redirect row is dropped; "X" points nowhere.
    assert rows == {("A (film)", 0, "title"), ("B", 1, "title"), ("A film", 0, "redirect"),
                    ("A", 0, "base")}
    assert fold("Amélie_Poulain ") == "amelie poulain"


# --- the CLI --------------------------------------------------------------------------------

def test_cli_query_prints_a_table(hand_index, capsys):
    code, out, err = run_cli(capsys, "query", "--index", str(hand_index), "Star Wars Episode IV",
                             "-k", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert "Star Wars (film)" in lines[0] and "redirect" in lines[0]
    assert lines[1].split() == ["rank", "title", "cosine", "year", "director"]
    assert lines[2].split()[:5] == ["1", "The", "Empire", "Strikes", "Back"]
    assert "1980" in lines[2] and "Irvin Kershner" in lines[2] and len(lines) == 4


def test_cli_json_lines_links_and_exact(hand_index, capsys):
    code, out, _ = run_cli(capsys, "query", "--index", str(hand_index), "--links", "--json",
                           "Lucas, George", "-k", "2")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["title"] for r in rows] == ["Lucasfilm", "Michael Mann"]
    assert rows[0]["rank"] == 1 and rows[0]["similarity"] == pytest.approx(
        np.cos(np.deg2rad(15)), abs=1e-3) and rows[0]["film_count"] == 3
    code, exact_out, _ = run_cli(capsys, "query", "--index", str(hand_index), "--links",
                                 "--json", "--exact", "George Lucas", "-k", "2")
    assert code == 0 and exact_out == out


def test_cli_several_titles(hand_index, capsys):
    code, out, _ = run_cli(capsys, "query", "--index", str(hand_index), "--json", "-k", "1",
                           "Alien", "Aliens (film)")
    # The mean points at 271.5 degrees: 187 (84.5 away) is nearer than 0 (88.5 away).
    assert code == 0 and json.loads(out)["title"] == "Amélie"


def test_cli_ambiguous_and_unknown_titles_exit_1(hand_index, capsys):
    code, out, err = run_cli(capsys, "query", "--index", str(hand_index), "Heat")
    assert code == 1 and not out
    assert "Heat (1995 film) (1995, Michael Mann)" in err and "Heat (1986 film)" in err
    code, out, err = run_cli(capsys, "query", "--index", str(hand_index), "Retrun of the Jedi")
    assert code == 1 and "did you mean: Return of the Jedi" in err


def test_cli_build_then_query(hand_run, tmp_path, capsys):
    out_dir = tmp_path / "index"
    code, out, err = run_cli(capsys, "build", "--run", str(hand_run), "--out", str(out_dir),
                             "--config", "test", "-q")
    assert code == 0, err
    assert json.loads(out)["films"]["items"] == len(FILMS)
    manifest = check_manifest(out_dir, INDEX_KIND, INDEX_SCHEMA_VERSION)
    run_id = json.loads((hand_run / "manifest.json").read_text())["id"]
    assert (manifest["metric"], manifest["dim"], manifest["n_trees"], manifest["seed"],
            manifest["run"]["id"]) == ("angular", 3, 10, 42, run_id)
    assert manifest["films"]["lookup"] == {"title": 8, "redirect": 2, "base": 5}
    code, _, err = run_cli(capsys, "build", "--run", str(hand_run), "--out", str(out_dir))
    assert code == 2 and "--overwrite" in err


def test_query_imports_neither_tensorflow_nor_pyspark_nor_pandas(hand_index):
    # pandas is no dependency of the query either, but pyarrow imports it on the quiet when
    # given Python lists (0.3 s of the cold start): index.lookup and index.query avoid that.
    script = ("import sys; from index.cli import main; "
              f"code = main(['query', '--index', {str(hand_index)!r}, 'Alien']); "
              "assert code == 0; "
              "print(sorted(m for m in ('tensorflow', 'pyspark', 'keras', 'pandas') "
              "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --- bad input: one line naming the file, exit 2 ----------------------------------------------

def copy_index(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def expect_one_line_error(capsys, index: Path, *names: str, links: bool = False) -> str:
    argv = ["query", "--index", str(index), "Alien"] + (["--links"] if links else [])
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and not out
    assert err.count("\n") == 1 and err.startswith("index: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in err
    return err


def test_missing_folder_and_missing_manifest(hand_index, tmp_path, capsys):
    expect_one_line_error(capsys, tmp_path / "nowhere", "nowhere", "no such index folder")
    broken = copy_index(hand_index, tmp_path / "broken")
    (broken / "manifest.json").unlink()
    expect_one_line_error(capsys, broken, "no manifest.json", "python -m index build")


def test_missing_corrupt_and_truncated_ann(hand_index, tmp_path, capsys):
    missing = copy_index(hand_index, tmp_path / "missing")
    (missing / "films.ann").unlink()
    expect_one_line_error(capsys, missing, "films.ann", "missing")
    corrupt = copy_index(hand_index, tmp_path / "corrupt")
    data = bytearray((corrupt / "films.ann").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (corrupt / "films.ann").write_bytes(bytes(data))
    expect_one_line_error(capsys, corrupt, "films.ann", "does not match")
    truncated = copy_index(hand_index, tmp_path / "truncated")
    (truncated / "links.ann").write_bytes((truncated / "links.ann").read_bytes()[:100])
    expect_one_line_error(capsys, truncated, "links.ann", "does not match", links=True)


def test_manifest_of_another_dimension_or_run(hand_index, hand_run, tmp_path, capsys, icfg):
    wrong_dim = copy_index(hand_index, tmp_path / "dim")
    manifest = json.loads((wrong_dim / "manifest.json").read_text())
    manifest["dim"] = 64
    (wrong_dim / "manifest.json").write_text(json.dumps(manifest))
    expect_one_line_error(capsys, wrong_dim, "films.npy", "(8, 64)")
    # An index of another run: its manifest put over this folder's files.
    other_run = write_run(tmp_path / "other-run", circle([0, 40, 80, 120, 160, 200, 240, 290]),
                          list(FILMS), circle(list(LINKS.values())), list(LINKS))
    other = build_index(other_run, tmp_path / "other-index", icfg)
    mixed = copy_index(hand_index, tmp_path / "mixed")
    (mixed / "manifest.json").write_text(json.dumps(other))
    expect_one_line_error(capsys, mixed, "films.ann", "another build")


def test_a_manifest_missing_a_field_is_one_line(hand_index, tmp_path, capsys):
    old = copy_index(hand_index, tmp_path / "old")
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["films"]["recall"]["search"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    expect_one_line_error(capsys, old, "manifest.json", "missing or bad field 'search'")


def test_files_of_another_build_are_refused(hand_index, hand_run, tmp_path, capsys, icfg):
    rebuilt = build_index(hand_run, tmp_path / "rebuilt", load_config("test"))
    mixed = copy_index(hand_index, tmp_path / "mixed-arrow")
    # Same bytes except the stamp would differ: copy the other build's title table and
    # its manifest entry, so only the stamp check can catch it.
    (mixed / "films.arrow").write_bytes((tmp_path / "rebuilt" / "films.arrow").read_bytes())
    manifest = json.loads((mixed / "manifest.json").read_text())
    manifest["films"]["items_table"] = rebuilt["films"]["items_table"]
    (mixed / "manifest.json").write_text(json.dumps(manifest))
    expect_one_line_error(capsys, mixed, "films.arrow", "written by index build")


def test_empty_runs_and_inconsistent_runs_are_refused(tmp_path, capsys):
    empty = write_run(tmp_path / "empty", np.zeros((0, 3)), [], np.zeros((0, 3)), [])
    code, _, err = run_cli(capsys, "build", "--run", str(empty), "--out", str(tmp_path / "i"))
    assert code == 2 and "holds no films" in err and not (tmp_path / "i").exists()
    nan = write_run(tmp_path / "nan", circle([0, 10, 20]), ["A", "B", "C"], circle([0]), ["L"])
    vectors = np.load(nan / "embeddings" / "films.npy")
    vectors[1] = np.nan
    np.save(nan / "embeddings" / "films.npy", vectors)
    code, _, err = run_cli(capsys, "build", "--run", str(nan), "--out", str(tmp_path / "i"))
    assert code == 2 and "films.npy: 1 rows hold NaN" in err
    code, _, err = run_cli(capsys, "build", "--run", str(tmp_path / "no-run"),
                           "--out", str(tmp_path / "i"))
    assert code == 2 and "no such run folder" in err


def test_an_index_with_no_items_is_refused(hand_index, tmp_path, capsys):
    empty = copy_index(hand_index, tmp_path / "empty")
    manifest = json.loads((empty / "manifest.json").read_text())
    manifest["links"]["items"] = 0
    (empty / "manifest.json").write_text(json.dumps(manifest))
    expect_one_line_error(capsys, empty, "links.ann", "holds no links", links=True)


def test_a_failed_build_leaves_nothing_behind(hand_run, tmp_path, monkeypatch, icfg):
    import index.build

    def fail(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(index.build, "tune_search_k", fail)
    with pytest.raises(RuntimeError):
        build_index(hand_run, tmp_path / "index", icfg)
    assert list(tmp_path.iterdir()) == []


# Issue 34: a build killed with kill -9 left `.index.building-*` (GBs on the full dump) that
# no later build removed or mentioned.
def test_a_build_removes_what_dead_builds_left_and_leaves_a_live_ones(hand_run, tmp_path,
                                                                     caplog, icfg):
    import socket

    def leftover(build: str, owner: dict | None) -> Path:
        staging = tmp_path / f".index.building-{build}"
        staging.mkdir()
        (staging / "films.ann").write_bytes(b"half")
        if owner is not None:
            (tmp_path / f".index.building-{build}.owner").write_text(json.dumps(owner))
        return staging

    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = leftover("deadbeef", {"host": socket.gethostname(), "pid": ended.pid})
    (tmp_path / ".index.old-deadbeef").mkdir()  # its swap was cut short too
    live = leftover("0a11ce00", {"host": socket.gethostname(), "pid": os.getpid()})
    older = leftover("01dc0de0", None)  # no owner record: an older version's build
    with caplog.at_level("WARNING", logger="index.build"):
        build_index(hand_run, tmp_path / "index", icfg)
    assert not dead.exists() and not (tmp_path / ".index.old-deadbeef").exists()
    assert not (tmp_path / ".index.building-deadbeef.owner").exists()
    assert live.exists() and older.exists()
    said = caplog.text
    assert f"removing {dead}, left by index build process {ended.pid}" in said
    assert f"left alone: {older}" in said and str(live) not in said
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".index.building-01dc0de0", ".index.building-0a11ce00",
        ".index.building-0a11ce00.owner", "index"]


def test_tables_of_another_id_are_refused(hand_run, tmp_path, icfg):
    other = write_tables_with_redirects(tmp_path / "tables", {})
    with pytest.raises(IndexFolderError, match="was trained on tables"):
        build_index(hand_run, tmp_path / "index", icfg, tables_dir=str(other))


def damage_in_place(path: Path, offset: int, size: int) -> None:
    """Overwrite `size` bytes at `offset` with zeros, keeping the file's size and mtime."""
    stat = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes(size))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


def test_damage_anywhere_in_a_verified_file_is_caught(hand_run, tmp_path, capsys, icfg):
    """Annoy segfaults on a damaged .ann; the whole file is checked (once per version of it),
    not its first and last MiB: zeros in the middle of a file larger than 2 MiB are caught
    even after queries have verified it and with its modification time put back."""
    rng = np.random.default_rng(0)
    run = write_run(tmp_path / "run", rng.normal(size=(8, 16)), list(FILMS),
                    rng.normal(size=(40_000, 16)), [f"Page {i}" for i in range(40_000)])
    out = tmp_path / "index"
    build_index(run, out, icfg)
    ann = out / "links.ann"
    assert ann.stat().st_size > 3 * 2**20
    code, _, _ = run_cli(capsys, "query", "--index", str(out), "--links", "Page 7", "--annoy")
    assert code == 0
    damage_in_place(ann, ann.stat().st_size // 2, 2**20)
    err = expect_one_line_error(capsys, out, "links.ann", "does not match", links=True)
    assert "python -m index build" in err
    (out / "films.npy").unlink()
    code, listed, err = run_cli(capsys, "verify", "--index", str(out))
    # Every file reported, not just the first damaged one (issue 34).
    lines = listed.splitlines()
    assert code == 2 and any(line.startswith(f"damaged {ann}: does not match")
                             for line in lines)
    assert f"damaged {out / 'films.npy'}: missing" in lines
    assert sum(line.startswith("ok ") for line in lines) == len(lines) - 2 == 6
    assert "2 of 8 files" in err and "python -m index build" in err


def test_verify_hashes_every_file(hand_index, capsys):
    code, out, _ = run_cli(capsys, "verify", "--index", str(hand_index))
    assert code == 0 and len(out.splitlines()) == 8 and all(line.startswith("ok ")
                                                            for line in out.splitlines())


def test_a_query_during_a_rebuild_opens_the_new_index(hand_run, tmp_path, monkeypatch, icfg):
    """`build --overwrite` swaps folders while a query opens the index: the query read the
    old manifest, then meets the new build's files; it opens the index again instead of
    calling a healthy index damaged."""
    import index.folder

    out = tmp_path / "index"
    build_index(hand_run, out, icfg)
    check_file, swapped = index.folder.check_file, []

    def rebuild_first(*args, **kwargs):
        if not swapped:
            swapped.append(build_index(hand_run, out, icfg, overwrite=True)["id"])
        return check_file(*args, **kwargs)

    monkeypatch.setattr(index.folder, "check_file", rebuild_first)
    side = open_index(out, "films")
    assert swapped and side.title(0) == "Star Wars (film)"
    assert json.loads((out / "manifest.json").read_text())["id"] == swapped[0]


def test_build_replaces_only_an_index_folder(hand_run, tmp_path, capsys, icfg):
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "build", "--run", str(hand_run), "--out", str(mine),
                           "--overwrite")
    assert code == 2 and "holds files, not a index folder" in err
    assert (mine / "notes.txt").read_text() == "mine"
    code, _, err = run_cli(capsys, "build", "--run", str(hand_run), "--out",
                           str(hand_run / "index"))
    assert code == 2 and "lies inside the input" in err
    out = tmp_path / "index"
    build_index(hand_run, out, icfg)
    with pytest.raises(IndexFolderError, match="holds a index folder already: pass --overwrite"):
        build_index(hand_run, out, icfg)


@pytest.mark.parametrize("title, message", [
    ("", "an empty title"),
    ("   ", "an empty title"),
    ("A" * 10_000, "a title of 10000 bytes ('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'...)"),
    (b"Am\xe9lie".decode("utf-8", "surrogateescape"), "is not valid UTF-8"),
])
def test_titles_that_cannot_be_titles_are_usage_errors(hand_index, capsys, title, message):
    code, out, err = run_cli(capsys, "query", "--index", str(hand_index), "Alien (film)", title)
    assert code == 2 and not out and err.count("\n") == 1 and message in err
    assert len(err) < 300


def test_invalid_utf8_on_the_command_line_is_exit_2(hand_index):
    result = subprocess.run([sys.executable.encode(), b"-m", b"index", b"query", b"--index",
                             str(hand_index).encode(), b"Am\xe9lie"], cwd=ROOT,
                            capture_output=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("index: error: the title b'Am\\xe9lie' is not ")


def test_colink_scores_are_cosines_of_log_count_idf_rows():
    from index.colink import CoLink, build_arrays

    # Links 0, 2 and 3 are each on two of the four films (idf log 2), link 1 on all (idf 0).
    # Film 0 links link 0 three times: its row is log(4), log(2) on links 0 and 3, i.e.
    # (2, 1) / sqrt(5) once the common log 2 is divided out.
    rows = np.array([[0, 0, 3], [0, 3, 1], [0, 1, 5], [1, 0, 1], [1, 1, 1], [2, 2, 1],
                     [2, 3, 1], [2, 1, 1], [3, 2, 1], [3, 1, 1]])
    colink = CoLink(**build_arrays(rows[:, 0], rows[:, 1], rows[:, 2], 4, 4))
    assert colink.scores([0]) == pytest.approx([1.0, 2 / np.sqrt(5), 1 / np.sqrt(10), 0.0])
    assert colink.scores([3]) == pytest.approx([0.0, 0.0, 1 / np.sqrt(2), 1.0])
    # Several films: their rows summed, then normalised.
    both = np.array([2, 1]) / np.sqrt(5) + np.array([1, 0])  # on links 0 and 3
    assert colink.scores([0, 1])[0] == pytest.approx(both @ np.array([2, 1]) / np.sqrt(5)
                                                     / np.linalg.norm(both))


@pytest.fixture(scope="module")
def linked_index(hand_run, icfg, tmp_path_factory) -> Path:
    """The hand index built from tables that have film_links: Amélie and Aliens (film) share
    two rare links, far apart as their vectors are (187 and 275 degrees)."""
    root = tmp_path_factory.mktemp("linked")
    tables = add_film_links(write_tables_with_redirects(root / "tables", REDIRECTS),
                            [(5, 0, 1), (5, 1, 1), (7, 0, 1), (7, 1, 1), (0, 2, 1), (1, 2, 1),
                             (2, 3, 1), (3, 4, 1), (4, 4, 1), (6, 2, 1)])
    run = write_run(root / "run", circle(list(FILMS.values())), list(FILMS),
                    circle(list(LINKS.values())), list(LINKS), tables=tables)
    out = root / "index"
    build_index(run, out, icfg)
    return out


def test_films_are_re_ranked_with_their_links(linked_index, capsys):
    side = open_index(linked_index, "films")
    assert side.colink is not None and side.vector_weight == 0.5
    answers = nearest(side, [5], 3)  # Amélie
    assert answers[0].title == "Aliens (film)"  # far by vectors, two rare links shared
    for n in answers:
        assert n.similarity == pytest.approx(0.5 * n.facts["vector_cosine"]
                                             + 0.5 * n.facts["colink_cosine"], abs=1e-6)
    code, out, _ = run_cli(capsys, "query", "--index", str(linked_index), "Amélie", "-k", "2")
    assert code == 0 and "score = 0.5 x vector cosine + 0.5 x link cosine" in out
    code, out, _ = run_cli(capsys, "verify", "--index", str(linked_index))
    assert code == 0 and "films_colink_weights.npy" in out


def test_a_damaged_colink_file_is_refused(linked_index, tmp_path, capsys):
    damaged = copy_index(linked_index, tmp_path / "damaged")
    path = damaged / "links_colink_weights.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    expect_one_line_error(capsys, damaged, "links_colink_weights.npy", "does not match")


def test_top_positions_is_the_stable_sorts_head_without_sorting_everything():
    from index.query import top_positions

    rng = np.random.default_rng(5)
    for size, n in ((1000, 100), (50, 100), (300, 1), (2000, 300)):
        scores = rng.integers(0, 20, size).astype(np.float64) / 7  # many ties
        expected = np.argsort(-scores, kind="stable")[:n]
        np.testing.assert_array_equal(top_positions(scores, n), expected)
