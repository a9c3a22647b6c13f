"""The ranking model (trainer/recommend) and its queries (index/ranking.py): the split, the
metrics on hand-made scores, the features, a run on ratings whose answer is known (each user
likes one cluster of films), the fold-in on vectors written down, the query CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.synthetic_run import write_run
from conf import ConfigError, load_config
from conf.manifest import RANKING_KIND, RANKING_SCHEMA_VERSION
from tests.manifests import check_manifest
from tests.synthetic_ratings import franchise_ratings, write_ratings
from tests.synthetic_tables import write_tables

CLUSTERS, PER_CLUSTER = 8, 25


# --- split --------------------------------------------------------------------------------
def test_the_split_is_seeded_disjoint_and_holds_out_whole_cold_items():
    from trainer.recommend.split import make_split

    user, item, _ = franchise_ratings()
    film = np.where(np.arange(CLUSTERS * PER_CLUSTER) % 3 == 0, -1,
                    np.arange(CLUSTERS * PER_CLUSTER))  # a third not linked
    args = dict(test_per_user=3, validation_per_user=2, cold_share=0.2, seed=5)
    a, b = make_split(user, item, film, **args), make_split(user, item, film, **args)
    assert all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("train", "validation", "test", "cold_test", "cold_items"))
    parts = [a.train, a.validation, a.test, a.cold_test]
    assert sum(len(p) for p in parts) == len(user)
    assert len(np.unique(np.concatenate(parts))) == len(user)
    rated_linked = np.unique(item[film[item] >= 0])
    assert len(a.cold_items) == round(0.2 * len(rated_linked))
    assert (film[a.cold_items] >= 0).all()
    assert set(item[a.cold_test]) <= set(a.cold_items)
    assert not np.isin(item[np.concatenate([a.train, a.validation, a.test])], a.cold_items).any()
    test_counts = np.bincount(user[a.test])
    warm_counts = np.bincount(user[~np.isin(item, a.cold_items)])
    assert (test_counts <= 3).all() and (test_counts <= warm_counts // 2).all()


# --- metrics ------------------------------------------------------------------------------
def test_per_user_auc_on_hand_made_scores():
    from trainer.recommend.metrics import AucTask, mean_auc

    # User 0: item 2 positive; user 1: items 0 and 3; user 2 has no positive (skipped).
    task = AucTask.build("t", user=np.array([0, 1, 1, 2]), item=np.array([2, 0, 3, 1]),
                         rating=np.array([5, 4, 5, 3.0]), candidates=np.arange(4),
                         min_rating=4)
    assert task.users.tolist() == [0, 1]
    perfect = np.array([[0, 1, 9, 2], [9, 1, 2, 8], [0, 0, 0, 0.0]])
    assert mean_auc(lambda users: perfect[users], task) == 1.0
    assert mean_auc(lambda users: -perfect[users], task) == 0.0
    assert mean_auc(lambda users: np.zeros((len(users), 4)), task) == 0.5
    # User 0's positive above one of three others: 1/3; user 1's perfect: 1.
    mixed = np.array([[5, 0, 3, 4], [9, 1, 2, 8], [0, 0, 0, 0.0]])
    assert mean_auc(lambda users: mixed[users], task) == pytest.approx((1 / 3 + 1) / 2)


def test_item_knn_scores_the_items_liked_with_the_users_items():
    from trainer.recommend.metrics import ItemKNN, interactions

    # Items 0 and 1 are liked together, item 2 by someone else; user 3 liked item 0 only.
    train = interactions(np.array([0, 0, 1, 1, 2, 3]), np.array([0, 1, 0, 1, 2, 0]), 4, 3)
    scores = ItemKNN(train)(np.array([3]))[0]
    assert scores[1] == pytest.approx(2 / np.sqrt(3 * 2))  # cosine of items 0 and 1
    assert scores[2] == 0 and scores[0] == pytest.approx(0.0, abs=1e-9)  # itself left out


# --- features -----------------------------------------------------------------------------
def test_each_feature_group_adds_up_to_one_and_cold_items_have_no_id():
    from trainer.recommend.features import item_features

    film_links = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 3]])
    features = item_features(["ids", "genres", "links", "film_vector"], n_items=4,
                             trained_items=np.array([True, True, False, True]),
                             item_genres=[["A", "B"], ["A"], [], ["B"]],
                             item_film=np.array([0, 1, 2, -1]), film_links=film_links,
                             link_titles=["L0", "L1", "L2", "L3"],
                             film_vectors=np.eye(3, dtype=np.float32), link_min_items=2)
    m = features.matrix().toarray()
    groups = features.groups
    for group, (lo, hi) in groups.items():
        sums = m[:, lo:hi].sum(axis=1)
        assert set(np.round(sums, 6)) <= {0.0, 1.0}, group
    assert m[2, groups["ids"][0]:groups["ids"][1]].sum() == 0  # no training ratings: no id
    # Only L1 is on two items' films (films 0 and 1).
    assert features.names[groups["links"][0]:] == ["link:L1"]
    assert features.film_vectors[3].tolist() == [0, 0, 0]  # not linked
    assert features.film_vectors[1].tolist() == [0, 1, 0]


# --- a run on franchise ratings -----------------------------------------------------------
@pytest.fixture(scope="module")
def franchise(tmp_path_factory):
    """Tables, a films run whose vectors know the clusters, ratings, a ranking run and an
    index with it."""
    from index.build import build_index
    from trainer.recommend.ranking_run import run

    root = tmp_path_factory.mktemp("franchise")
    tables = write_tables(root / "tables", n_clusters=CLUSTERS, films_per_cluster=PER_CLUSTER)
    tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    n_films = CLUSTERS * PER_CLUSTER
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((CLUSTERS, 16))
    films = centres[np.arange(n_films) // PER_CLUSTER] + 0.3 * rng.standard_normal((n_films, 16))
    titles = [f"Film {i} (cluster {i // PER_CLUSTER})" for i in range(n_films)]
    films_run = write_run(root / "run", films, titles, rng.standard_normal((170, 16)),
                          [f"Link {i}" for i in range(170)], tables=tables)
    user, item, rating = franchise_ratings(CLUSTERS, PER_CLUSTER)
    ratings = write_ratings(root / "ratings", tables_id, user, item, rating, n_films)
    cfg = load_config("test", ["rank.epochs=15", "rank.cold_share=0.25"])
    manifest = run(str(ratings), root / "ranking", cfg, films_run=str(films_run))
    index = root / "index"
    build_index(films_run, index, load_config("test"), ranking_run=str(root / "ranking"))
    return {"root": root, "manifest": manifest, "ranking": root / "ranking", "index": index,
            "cfg": cfg, "ratings": ratings, "films_run": films_run}


def test_the_run_folder_holds_what_a_scorer_needs(franchise):
    import pyarrow.parquet as pq

    run_dir = franchise["ranking"]
    users = np.load(run_dir / "embeddings" / "users.npy")
    items = np.load(run_dir / "embeddings" / "items.npy")
    assert users.shape == (CLUSTERS * 12, 9) and items.shape == (CLUSTERS * PER_CLUSTER, 9)
    assert (users[:, -1] == 1).all()  # score = users[u] . items[i], the bias in items
    table = pq.read_table(run_dir / "embeddings" / "items.parquet")
    assert table["film_title"][0].as_py() == "Film 0 (cluster 0)"
    test = pq.read_table(run_dir / "split" / "test.parquet")
    cold = pq.read_table(run_dir / "split" / "cold_items.parquet")["item_id"].to_numpy()
    assert test.column_names == ["user_id", "item_id", "rating"]
    assert not np.isin(test["item_id"].to_numpy(), cold).any() and len(cold) == 50
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["auc"]["test"]) == {"popularity", "item_knn", "content_knn", "ids",
                                           "ids+genres", "ids+genres+links+film_vector"}
    assert (run_dir / "logs" / "projector_config.pbtxt").exists()
    assert "tags" in (run_dir / "logs" / "projector_config.pbtxt").read_text()
    manifest = check_manifest(run_dir, RANKING_KIND, RANKING_SCHEMA_VERSION)
    assert manifest["ratings"]["id"] == json.loads(
        (franchise["ratings"] / "manifest.json").read_text())["id"]
    assert manifest["films_run"]["id"] == json.loads(
        (franchise["films_run"] / "manifest.json").read_text())["id"]


def test_wikipedia_features_rank_cold_items_that_ids_cannot(franchise):
    auc = franchise["manifest"]["auc"]
    assert auc["cold"]["ids"] == 0.5  # no id row for an item nobody rated: all ties
    assert auc["cold"]["ids+genres+links+film_vector"] > 0.8
    assert auc["test"]["ids+genres+links+film_vector"] > max(auc["test"]["popularity"], 0.8)


def test_a_user_who_likes_a_franchise_gets_its_other_films_first(franchise, capsys):
    from index.cli import main

    for user in ("1", "6"):  # dense users 0 and 5 like clusters 0 and 5
        assert main(["query", "--index", str(franchise["index"]), "--user", user, "--json",
                     "-k", "5"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        cluster = (int(user) - 1) % CLUSTERS
        clusters = [r["film_id"] // PER_CLUSTER for r in rows]
        # Its films first (by chance, three of eight clusters' films: 1 in 512).
        assert clusters[:3] == [cluster] * 3 and clusters.count(cluster) >= 4, clusters
        rated = np.load(franchise["ranking"] / "embeddings" / "rated_items.npy")
        indptr = np.load(franchise["ranking"] / "embeddings" / "rated_indptr.npy")
        mine = set(rated[indptr[int(user) - 1]:indptr[int(user)]].tolist())
        assert not mine & {r["item_id"] for r in rows}


def test_someone_new_is_folded_in_from_a_few_ratings(franchise, capsys):
    from index.cli import main

    args = ["query", "--index", str(franchise["index"]), "--json", "-k", "5",
            "--rated", "Film 75 (cluster 3)=5", "--rated", "Film 80=5",  # a redirect
            "--rated", "Film 1 (cluster 0) (1990)=1"]  # the catalogue's own title
    assert main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["film_id"] // PER_CLUSTER for r in rows] == [3] * 5
    assert not {75, 80, 1} & {r["item_id"] for r in rows}
    assert main(["query", "--index", str(franchise["index"]), "Film 75", "--by-ratings",
                 "--json", "-k", "3"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["film_id"] // PER_CLUSTER for r in rows] == [3] * 3


def test_bad_ranking_queries_get_one_line(franchise, capsys):
    from index.cli import main

    index = str(franchise["index"])
    assert main(["query", "--index", index, "--user", "999999"]) == 1
    assert "no user '999999'" in capsys.readouterr().err
    assert main(["query", "--index", index, "--rated", "Film 75"]) == 2
    assert "TITLE=STARS" in capsys.readouterr().err
    assert main(["query", "--index", index, "--rated", "Film 75=2"]) == 2
    assert "liked" in capsys.readouterr().err
    assert main(["query", "--index", index, "--rated", "Film 1000=5"]) == 1
    assert "no film titled 'Film 1000'" in capsys.readouterr().err
    assert main(["query", "--index", index, "--user", "1", "Film 75"]) == 2
    assert "one of them" in capsys.readouterr().err
    # Issue 34: stars outside the ratings' scale, and a film rated twice, were taken.
    for stars in ("11", "1e308", "-1e308", "0"):
        assert main(["query", "--index", index, "--rated", f"Film 75={stars}"]) == 2
        assert "give stars from 1 to 5, the ratings' scale" in capsys.readouterr().err
    assert main(["query", "--index", index, "--rated", "Film 75=5", "--rated",
                 "Film 75=1"]) == 2
    assert "'Film 75' is given twice: rate each film once" in capsys.readouterr().err
    assert main(["query", "--index", index, "--rated", "Film 75=5", "--rated",
                 "Film 75 (cluster 3)=1"]) == 2
    assert "the same film as 'Film 75'" in capsys.readouterr().err


def test_an_index_without_a_ranking_model_says_how_to_add_one(franchise, tmp_path, capsys):
    from index.build import build_index
    from index.cli import main

    build_index(franchise["films_run"], tmp_path / "plain", load_config("test"))
    assert main(["query", "--index", str(tmp_path / "plain"), "--user", "1"]) == 2
    assert "--ranking-run" in capsys.readouterr().err


def test_the_ranking_run_refuses_foreign_folders_and_other_ratings(franchise, tmp_path):
    from trainer.ratings import RatingsError
    from trainer.recommend.ranking_run import run
    from trainer.run_folder import RunFolderError

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    films_run = str(franchise["films_run"])
    with pytest.raises(RunFolderError, match="left alone"):
        run(str(franchise["ratings"]), foreign, franchise["cfg"], films_run=films_run)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(RunFolderError, match="--overwrite"):
        run(str(franchise["ratings"]), franchise["ranking"], franchise["cfg"],
            films_run=films_run)
    tables_id = franchise["manifest"]["ratings"]["films_tables"]["id"]
    other = write_ratings(tmp_path / "other", tables_id, *franchise_ratings(seed=1),
                          CLUSTERS * PER_CLUSTER)
    with pytest.raises(RunFolderError, match="started on ratings"):
        run(str(other), franchise["ranking"], franchise["cfg"], films_run=films_run,
            resume=True)
    elsewhere = write_ratings(tmp_path / "elsewhere", "other-tables", *franchise_ratings(),
                              CLUSTERS * PER_CLUSTER)
    with pytest.raises(RatingsError, match="links its items to tables other-ta"):
        run(str(elsewhere), tmp_path / "new", franchise["cfg"], films_run=films_run)
    with pytest.raises(ConfigError, match="need a films run"):
        run(str(other), tmp_path / "new", franchise["cfg"])
    assert not (tmp_path / "new").exists()


# Issue 34: an empty ratings set crashed (ZeroDivisionError) and left a started.json-only
# folder; one with no rating >= min_rating trained nothing; --out was refused only after
# the inputs had loaded.
def test_a_ranking_run_with_nothing_to_learn_is_one_line_and_writes_nothing(franchise,
                                                                            tmp_path, capsys,
                                                                            monkeypatch):
    from trainer.cli import main

    tables_id = franchise["manifest"]["ratings"]["films_tables"]["id"]
    n_films = CLUSTERS * PER_CLUSTER
    empty = write_ratings(tmp_path / "empty", tables_id, np.zeros(0, np.int32),
                          np.zeros(0, np.int32), np.zeros(0, np.float32), n_films)
    user, item, rating = franchise_ratings()
    disliked = write_ratings(tmp_path / "disliked", tables_id, user, item,
                             np.minimum(rating, 2.0), n_films)
    films_run = str(franchise["films_run"])
    for ratings, said in ((empty, "holds no ratings: nothing to train on"),
                          (disliked, "no training rating is >= rank.min_rating (4)")):
        assert main(["rank", "--ratings", str(ratings), "--films-run", films_run, "--out",
                     str(tmp_path / "out"), "--config", "test"]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")

    def no_loading(*args, **kwargs):
        raise AssertionError("the inputs were loaded before the folder was refused")

    monkeypatch.setattr("trainer.recommend.inputs.load_films_run", no_loading)
    for command in ("rank", "rate"):
        assert main([command, "--ratings", str(franchise["ratings"]), "--films-run",
                     films_run, "--out", str(foreign), "--config", "test"]) == 2
        assert "left alone" in capsys.readouterr().err
    assert main(["rank", "--ratings", str(franchise["ratings"]), "--films-run", films_run,
                 "--out", str(tmp_path / "x"), "-p", "rank.optimizer=adam"]) == 2
    assert "rank.optimizer must be one of adagrad, sgd" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --- fold-in on vectors written down ------------------------------------------------------
def _ranking(items: np.ndarray, users: np.ndarray, rated: list[list[int]], history=None):
    import pyarrow as pa

    from index.ranking import Ranking

    indptr = np.r_[0, np.cumsum([len(r) for r in rated])]
    n = len(items)
    return Ranking(users=users, items=items, history=history, rated_indptr=indptr,
                   rated_items=np.array([i for r in rated for i in r], np.int32),
                   items_table=pa.table({"item_id": list(range(n)),
                                         "source_id": [str(i) for i in range(n)],
                                         "title": [f"item {i}" for i in range(n)],
                                         "year": [None] * n, "film_id": [None] * n,
                                         "film_title": [None] * n}),
                   user_ids={"a": 0}, min_rating=4.0)


def test_fold_in_points_a_new_user_at_what_they_liked():
    from index.ranking import RankingError, fold_in, for_ratings, for_user

    # Items along two axes (bias 0): 0, 1 on the first, 2, 3 on the second; 4 between.
    items = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.9, 0], [0.5, 0.5, 0]],
                     np.float32)
    ranking = _ranking(items, np.array([[0, 2, 1]], np.float32), [[2]])
    vector = fold_in(ranking, {0: 5.0, 2: 1.0})
    assert vector[0] > 0 > vector[1] and vector[2] == 1.0
    assert [i for i, _ in for_ratings(ranking, {0: 5.0, 2: 1.0}, 2)] == [1, 4]
    # The known user points along the second axis and rated item 2: 3 first, 2 left out.
    assert [i for i, _ in for_user(ranking, 0, 2)] == [3, 4]
    with pytest.raises(RankingError, match="liked"):
        fold_in(ranking, {0: 2.0})


def test_an_interrupted_run_resumes_to_the_same_vectors(franchise, tmp_path):
    from trainer.recommend.ranking_run import run

    cfg = load_config("test", ["rank.epochs=15", "rank.cold_share=0.25", "rank.compare=false"])
    args = (str(franchise["ratings"]), tmp_path / "ranking", cfg)
    assert run(*args, films_run=str(franchise["films_run"]), stop_after_steps=40) is None
    assert not (tmp_path / "ranking" / "manifest.json").exists()
    run(*args, films_run=str(franchise["films_run"]), resume=True)
    for name in ("users.npy", "items.npy"):
        assert np.array_equal(np.load(tmp_path / "ranking" / "embeddings" / name),
                              np.load(franchise["ranking"] / "embeddings" / name)), name


def test_the_web_api_gives_a_users_films_as_the_cli_does(franchise, capsys):
    from starlette.testclient import TestClient

    from index.cli import main
    from index.serve import create_app

    index = str(franchise["index"])
    client = TestClient(create_app(index))

    def cli(*argv: str) -> list[dict]:
        assert main(["query", "--index", index, "--json", "-k", "5", *argv]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    body = client.get("/api/user/6", params={"k": 5}).json()
    assert body["answers"] == cli("--user", "6") and body["rated"] > 0
    rated = [("rated", "Film 75 (cluster 3)=5"), ("rated", "Film 80=5"), ("k", 5)]
    body = client.get("/api/recommend", params=rated).json()
    assert body["answers"] == cli("--rated", "Film 75 (cluster 3)=5", "--rated", "Film 80=5")
    assert client.get("/api/info").json()["ranking"] is True
    missing = client.get("/api/user/999999")
    assert missing.status_code == 404 and "no user '999999'" in missing.json()["error"]
    assert client.get("/api/recommend", params=[("rated", "Film 75=2")]).status_code == 400
    for rated in (["Film 75=11"], ["Film 75=1e308"], ["Film 75=5", "Film 80=4", "Film 75=5"]):
        bad = client.get("/api/recommend", params=[("rated", r) for r in rated])
        assert bad.status_code == 400 and ("scale" in bad.json()["error"]
                                           or "rate each film once" in bad.json()["error"])


# Issue 35: the ranking model is written twice, in Keras (the trainer) and in numpy (the
# index); the index's scores must be the trainer's own.
def test_the_index_scores_a_user_as_the_trained_keras_model_does(franchise, tmp_path,
                                                                 monkeypatch):
    import tensorflow as tf

    from index.build import build_index
    from index.folder import open_ranking
    from index.ranking import for_user
    from trainer.recommend import ranking_export
    from trainer.recommend.ranking_run import run

    trained = {}
    export_run = ranking_export.export_run

    def keep(trainer, *args, **kwargs):
        trained["trainer"] = trainer
        return export_run(trainer, *args, **kwargs)

    monkeypatch.setattr(ranking_export, "export_run", keep)
    cfg = load_config("test", ["rank.epochs=2", "rank.compare=false"])
    run(str(franchise["ratings"]), tmp_path / "ranking", cfg,
        films_run=str(franchise["films_run"]))
    build_index(franchise["films_run"], tmp_path / "index", load_config("test"),
                ranking_run=str(tmp_path / "ranking"))
    ranking = open_ranking(tmp_path / "index")
    model = trained["trainer"].model
    n_items = ranking.n_items
    for user in (0, 7, 50):
        answers = for_user(ranking, user, 20)
        items = np.array([i for i, _ in answers], np.int32)
        scores, _, _ = model({"user": tf.constant([user]), "item": tf.constant(items[None, :])})
        np.testing.assert_allclose([s for _, s in answers], scores.numpy()[0], atol=1e-5)
        every, _, _ = model({"user": tf.constant([user]),
                             "item": tf.constant(np.arange(n_items, dtype=np.int32)[None, :])})
        np.testing.assert_allclose(np.asarray(ranking.items) @ np.asarray(ranking.users[user]),
                                   every.numpy()[0], atol=1e-5)


# Issue 36: at MovieLens-25M's size the item-kNN baseline's items x items matrix does not fit;
# it keeps each item's most similar items, computed a block at a time.
def test_item_knn_truncated_to_every_neighbour_is_the_exact_one_and_the_auc_two_ways():
    import scipy.sparse as sp

    from trainer.recommend.metrics import AucTask, ItemKNN, mean_auc, mean_auc_by_ranks

    x = sp.random(400, 250, density=0.05, random_state=1, format="csr")
    x.data[:] = 1.0
    users = np.arange(400)
    exact = ItemKNN(x)(users)
    blocks = ItemKNN(x, neighbours=249, exact_up_to=0, block=64)
    np.testing.assert_allclose(blocks(users), exact, atol=1e-5)
    few = ItemKNN(x, neighbours=5, exact_up_to=0, block=64)
    assert few.similar.getnnz(axis=1).max() <= 5
    rng = np.random.default_rng(2)
    task = AucTask.build("t", rng.integers(0, 400, 3000), rng.integers(0, 250, 3000),
                         rng.integers(1, 6, 3000).astype(float), np.arange(250), 4.0)
    for scorer in (ItemKNN(x), few, lambda u: np.round(exact[u], 1)):  # ties included
        assert mean_auc(scorer, task) == pytest.approx(mean_auc_by_ranks(scorer, task),
                                                       abs=1e-12)
