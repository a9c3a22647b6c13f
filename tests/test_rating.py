"""The rating model (trainer/recommend/rating_run.py): the folds, the baselines on data whose
answer is known, and a run on ratings where each user likes one cluster of films."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.synthetic_run import write_run
from conf import load_config
from conf.manifest import RATING_KIND, RATING_SCHEMA_VERSION
from tests.manifests import check_manifest
from tests.synthetic_ratings import franchise_ratings, write_ratings
from tests.synthetic_tables import write_tables


def test_folds_deal_each_users_ratings_evenly():
    from trainer.recommend.rating_run import user_folds

    user = np.repeat(np.arange(4), [10, 11, 25, 5])
    five = user_folds(user, 5, seed=3)
    for u in range(4):
        counts = np.bincount(five[user == u], minlength=5)
        assert counts.max() - counts.min() <= 1
    one = user_folds(user, 1, seed=3)  # the 80/20 split: fold 0 is the test
    assert [int((one[user == u] == 0).sum()) for u in range(4)] == [2, 2, 5, 1]
    assert np.array_equal(five, user_folds(user, 5, seed=3))


def test_baseline_only_recovers_additive_biases():
    from trainer.recommend.rating_run import baseline_only

    rng = np.random.default_rng(0)
    bu, bi = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 20)
    user, item = np.meshgrid(np.arange(30), np.arange(20), indexing="ij")
    user, item = user.ravel(), item.ravel()
    rating = 3.5 + bu[user] + bi[item]
    mean, fit_u, fit_i = baseline_only(user, item, rating, 30, 20, reg_u=0, reg_i=0,
                                       epochs=20)
    assert np.allclose(mean + fit_u[user] + fit_i[item], rating, atol=1e-6)


def test_a_rating_run_beats_the_mean_and_writes_its_predictions(tmp_path, capsys):
    import pyarrow.parquet as pq

    from trainer.recommend.rating_run import run

    tables = write_tables(tmp_path / "tables")
    tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    rng = np.random.default_rng(1)
    n_films = 200
    films = np.repeat(rng.standard_normal((8, 16)), 25, axis=0) + 0.3 * rng.standard_normal(
        (n_films, 16))
    films_run = write_run(tmp_path / "run", films, [f"Film {i} (cluster {i // 25})"
                                                    for i in range(n_films)],
                          rng.standard_normal((170, 16)), [f"Link {i}" for i in range(170)],
                          tables=tables)
    ratings = write_ratings(tmp_path / "ratings", tables_id, *franchise_ratings(), n_films)
    cfg = load_config("test", ["rate.epochs=10"])
    manifest = run(str(ratings), tmp_path / "rating", cfg, films_run=str(films_run))
    assert check_manifest(tmp_path / "rating", RATING_KIND, RATING_SCHEMA_VERSION) == manifest
    summary = manifest["summary"]
    assert set(summary) == {"most_common_rating", "global_mean", "baseline_only", "biased_mf",
                            "model"}
    assert summary["model"]["rmse"]["mean"] < 0.7 * summary["global_mean"]["rmse"]["mean"]
    predictions = pq.read_table(tmp_path / "rating" / "predictions.parquet")
    assert predictions.column_names == ["user_id", "item_id", "rating", "predicted"]
    predicted = predictions["predicted"].to_numpy()
    assert predicted.min() >= 1 and predicted.max() <= 5  # clipped to the ratings' scale
    with pytest.raises(Exception, match="--overwrite"):
        run(str(ratings), tmp_path / "rating", cfg, films_run=str(films_run))

    # The exported model answers in the index, in numpy: user 1 likes cluster 0.
    from index.build import build_index
    from index.cli import main

    build_index(films_run, tmp_path / "index", load_config("test"),
                rating_run=str(tmp_path / "rating"))
    assert main(["query", "--index", str(tmp_path / "index"), "--user", "1", "--json",
                 "--predict", "Film 3", "--predict", "Film 103"]) == 0
    own, other = (json.loads(line)["predicted"] for line in capsys.readouterr().out.splitlines())
    assert own > 4 and other < 3, (own, other)
    # The test config has an MLP branch: someone new cannot be folded in by ridge regression.
    assert main(["query", "--index", str(tmp_path / "index"), "--rated", "Film 3=5",
                 "--predict", "Film 4"]) == 2
    assert "MLP" in capsys.readouterr().err


def test_prediction_and_fold_in_on_vectors_written_down():
    import pyarrow as pa

    from index.rating import Rating

    # dim 2: item 0 along the first axis, item 1 along the second, item 2 like item 0; biases
    # in the last column.
    items = np.array([[1, 0, 0.5], [0, 1, -0.5], [0.9, 0.1, 0.0]])
    model = Rating(rated_indptr=np.array([0]), rated_items=np.zeros(0, np.int32),
                   items_table=pa.table({"title": ["a", "b", "c"]}), user_ids={},
                   users=np.zeros((0, 3)), items=items, layers=[], mean=3.0, low=1, high=5)
    user = np.array([1.0, -1.0, 0.2])
    assert model.predict(user, [0, 1]).tolist() == pytest.approx([4.7, 1.7])
    assert model.predict(np.array([10.0, 0, 0]), [0])[0] == 5  # clipped to the scale
    folded = model.fold_in({0: 5.0, 1: 1.0}, l2=0.01)
    stars = model.predict(folded, [0, 1, 2])
    assert stars[0] == pytest.approx(5, abs=0.05) and stars[1] == pytest.approx(1, abs=0.05)
    assert stars[2] > 4  # like the liked item


# Issue 34: one NaN rating made every metric and every vector of the rating model NaN, the
# index took the run, and `--json` printed NaN, which is not JSON.
def test_non_finite_ratings_are_refused_by_the_trainers_and_the_index(tmp_path, capsys):
    from index.build import build_index
    from index.folder import IndexFolderError
    from trainer.cli import main

    tables = write_tables(tmp_path / "tables")
    tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    user, item, rating = franchise_ratings()
    rating[[3, 40]] = [np.nan, np.inf]
    ratings = write_ratings(tmp_path / "ratings", tables_id, user, item, rating, 200)
    for command in ("rank", "rate"):
        assert main([command, "--ratings", str(ratings), "--out", str(tmp_path / command),
                     "--config", "test", "-p", f'{command}.features=["ids", "genres"]']) == 2
        err = capsys.readouterr().err
        assert "2 ratings are NaN or infinite (the first: nan)" in err, err
        assert "spark_jobs.ratings" in err and not (tmp_path / command).exists()
    # A run whose vectors are NaN (trained before these checks) is refused by the index.
    rng = np.random.default_rng(1)
    films_run = write_run(tmp_path / "run", rng.standard_normal((200, 16)),
                          [f"Film {i}" for i in range(200)], rng.standard_normal((170, 16)),
                          [f"Link {i}" for i in range(170)], tables=tables)
    good = write_ratings(tmp_path / "good", tables_id, *franchise_ratings(), 200)
    from trainer.recommend.rating_run import run

    run(str(good), tmp_path / "rating", load_config("test", ["rate.epochs=1",
                                                             'rate.features=["ids"]']),
        films_run=str(films_run))
    users = np.load(tmp_path / "rating" / "embeddings" / "users.npy")
    users[5, 0] = np.nan
    np.save(tmp_path / "rating" / "embeddings" / "users.npy", users)
    with pytest.raises(IndexFolderError, match=r"users.npy: 1 values are NaN or infinite"):
        build_index(films_run, tmp_path / "index", load_config("test"),
                    rating_run=str(tmp_path / "rating"))
    assert not (tmp_path / "index").exists()


def test_json_never_holds_nan_or_infinity():
    from conf.jsontext import dumps

    text = dumps({"predicted": np.float32("nan"), "auc": [0.5, float("inf")],
                  "n": np.int64(3), "ok": np.array([1.5, -np.inf])})
    assert json.loads(text) == {"predicted": None, "auc": [0.5, None], "n": 3,
                                "ok": [1.5, None]}
    assert "NaN" not in text and "Infinity" not in text


# Issue 35: the rating run had its own loop, with no checkpoint and no --resume.
def test_an_interrupted_rating_run_resumes_to_what_an_uninterrupted_one_reaches(tmp_path):
    from trainer.recommend.rating_run import run

    tables = write_tables(tmp_path / "tables")
    tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    ratings = write_ratings(tmp_path / "ratings", tables_id, *franchise_ratings(), 200)
    cfg = load_config("test", ["rate.epochs=3", 'rate.features=["ids", "genres"]',
                               "rate.mlp_branch=false"])
    whole = run(str(ratings), tmp_path / "whole", cfg)
    # Stopped inside the first fold's model (the biased MF before it takes 60 steps).
    assert run(str(ratings), tmp_path / "cut", cfg, stop_after_steps=90) is None
    assert not (tmp_path / "cut" / "manifest.json").exists()
    checkpoints = tmp_path / "cut" / "checkpoints"
    finished = (checkpoints / "fold1-biased_mf" / "state.json").read_text()
    first_epoch = json.loads((checkpoints / "fold1-model" / "state.json").read_text())
    assert first_epoch["epoch"] == 1
    resumed = run(str(ratings), tmp_path / "cut", cfg, resume=True)
    # Resumed, not started again: the finished model untouched, the cut one went on from its
    # first epoch (its history kept).
    assert (checkpoints / "fold1-biased_mf" / "state.json").read_text() == finished
    history = json.loads((checkpoints / "fold1-model" / "state.json").read_text())["history"]
    assert len(history) == 3 and history[0] == first_epoch["history"][0]
    # Equal to float rounding: two uninterrupted runs in one process differ by ~1e-7 here
    # (the same batches, a different rounding in a CPU kernel; docs/training.md).
    for method, values in whole["summary"].items():
        for measure in ("rmse", "mae"):
            assert resumed["summary"][method][measure]["mean"] == pytest.approx(
                values[measure]["mean"], abs=1e-4), (method, measure)
    for name in ("users.npy", "items.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "cut" / "embeddings" / name),
                                   np.load(tmp_path / "whole" / "embeddings" / name),
                                   atol=1e-4, err_msg=name)


# Issue 35: the rating model is written twice, in Keras and in numpy (index/rating.py); the
# index's predicted stars must be the trained model's own, MLP branch included.
def test_the_index_predicts_the_stars_the_trained_keras_model_predicts(tmp_path, monkeypatch):
    from index.build import build_index
    from index.folder import open_rating
    from trainer.recommend import rating_run

    tables = write_tables(tmp_path / "tables")
    tables_id = json.loads((tables / "manifest.json").read_text())["id"]
    rng = np.random.default_rng(1)
    films_run = write_run(tmp_path / "run", rng.standard_normal((200, 16)),
                          [f"Film {i}" for i in range(200)], rng.standard_normal((170, 16)),
                          [f"Link {i}" for i in range(170)], tables=tables)
    ratings = write_ratings(tmp_path / "ratings", tables_id, *franchise_ratings(), 200)
    final = {}
    export_model = rating_run.export_model

    def keep(run, model):
        final["model"] = model
        return export_model(run, model)

    monkeypatch.setattr(rating_run, "export_model", keep)
    cfg = load_config("test", ["rate.epochs=2"])  # test.toml: with an MLP branch
    assert cfg["rate"]["mlp_branch"]
    rating_run.run(str(ratings), tmp_path / "rating", cfg, films_run=str(films_run))
    build_index(films_run, tmp_path / "index", load_config("test"),
                rating_run=str(tmp_path / "rating"))
    rating = open_rating(tmp_path / "index")
    items = np.arange(200, dtype=np.int32)
    for user in (0, 13, 95):
        keras = final["model"].predict_pairs(np.full(200, user, np.int32), items,
                                             rating.low, rating.high)
        np.testing.assert_allclose(rating.predict(rating.users[user], list(items)), keras,
                                   atol=1e-5)


def test_validation_rows_hold_out_a_share_of_each_users_ratings_never_all():
    from trainer.recommend.rating_run import validation_rows

    user = np.repeat(np.arange(4), [100, 20, 4, 5])
    held = validation_rows(user, 0.05, seed=1)
    assert [int(held[user == u].sum()) for u in range(4)] == [5, 1, 0, 1]
    assert np.array_equal(held, validation_rows(user, 0.05, seed=1))


def test_batches_grow_with_the_set_in_powers_of_two():
    from trainer.pipeline import auto_batch_size

    assert auto_batch_size(80_000, 1024) == 1024  # MovieLens-100K
    assert auto_batch_size(19_600_000, 1024) == 16384  # 25M's training positives
    assert auto_batch_size(80_000, 512) == 512
    assert auto_batch_size(10**9, 1024) == 65536
