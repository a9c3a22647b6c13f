"""Trainer: tables checks, hold-out split, in-graph pipeline, sparse updates, fit, save/load,
resume, export. Tables are small synthetic ones written with pyarrow (tests/synthetic_tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conf import load_config
from conf.manifest import RUN_KIND, RUN_SCHEMA_VERSION
from tests.manifests import check_manifest
from tests.synthetic_tables import write_tables

tf = pytest.importorskip("tensorflow")

from trainer.pipeline import PairSampler, pointwise_dataset  # noqa: E402
from trainer.tables import TablesError, load_tables, split_holdout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory) -> Path:
    return write_tables(tmp_path_factory.mktemp("tables"))


def train_cfg(*overrides: str):
    return load_config("test", list(overrides))


# --- tables ---------------------------------------------------------------------------------
def test_load_tables_reads_the_contract(tables_dir):
    t = load_tables(tables_dir)
    assert (t.n_films, t.n_links) == (200, 170)
    assert t.film_links.shape == (2000, 2)
    assert t.film_titles[0] == "Film 0 (cluster 0)"
    assert t.link_film_id.tolist() == [-1] * 170
    assert t.film_attributes["director"][30] == ["Director 1"]


def test_tables_without_manifest_are_refused(tmp_path):
    folder = write_tables(tmp_path / "t", manifest=False)
    with pytest.raises(TablesError, match="no manifest.json.*unfinished"):
        load_tables(folder)


def test_tables_with_a_wrong_column_type_are_refused(tmp_path):
    folder = write_tables(tmp_path / "t")
    films = pq.read_table(folder / "films")
    films = films.set_column(0, "film_id", films["film_id"].cast(pa.int64()))
    pq.write_table(films, folder / "films" / "part-00000.parquet")
    with pytest.raises(TablesError, match="films.film_id is int64, expected int32"):
        load_tables(folder)


def test_empty_tables_are_refused(tmp_path):
    folder = write_tables(tmp_path / "t")
    links = pq.read_table(folder / "film_links")
    pq.write_table(links.slice(0, 0), folder / "film_links" / "part-00000.parquet")
    with pytest.raises(TablesError, match="film_links table is empty"):
        load_tables(folder)


def test_holdout_split_is_deterministic_and_per_film():
    rng = np.random.default_rng(3)
    pairs = np.array([(f, k) for f in range(50) for k in rng.choice(500, 20, replace=False)],
                     dtype=np.int32)
    held = split_holdout(pairs, 0.1, 5, seed=1)
    assert np.array_equal(held, split_holdout(pairs[::-1], 0.1, 5, seed=1)[::-1])
    assert np.bincount(pairs[held, 0], minlength=50).tolist() == [2] * 50
    assert not np.array_equal(held, split_holdout(pairs, 0.1, 5, seed=2))
    few = np.array([(0, 1), (0, 2), (0, 3)], dtype=np.int32)
    assert not split_holdout(few, 0.5, 5, seed=1).any()  # too few links: nothing held out


# --- pipeline -------------------------------------------------------------------------------
def _sampler(positives, n_items):
    return PairSampler.build(positives, n_items, np.bincount(positives[:, 1],
                                                             minlength=n_items), 0.75)


def test_pointwise_batches_have_the_documented_layout(tables_dir):
    t = load_tables(tables_dir)
    ds = pointwise_dataset(t.film_links, _sampler(t.film_links, t.n_links), batch_size=128,
                           negatives_per_positive=5, policy="reject", reject_rounds=3, seed=1,
                           epoch=0)
    spec = ds.element_spec
    assert spec["query"].shape.as_list() == [128] and spec["query"].dtype == tf.int32
    assert spec["item"].shape.as_list() == [128, 6] and spec["item"].dtype == tf.int32
    assert spec["label"].shape.as_list() == [128, 6] and spec["weight"].dtype == tf.float32
    batches = list(ds)
    assert len(batches) == -(-2000 // 128)
    first = batches[0]
    assert first["label"].numpy()[:, 0].tolist() == [1.0] * 128
    assert first["label"].numpy()[:, 1:].sum() == 0
    known = {tuple(p) for p in t.film_links.tolist()}
    drawn = zip(first["query"].numpy(), first["item"].numpy()[:, 0], strict=True)
    assert all((f, i) in known for f, i in drawn)


def test_an_epoch_visits_every_positive_once(tables_dir):
    t = load_tables(tables_dir)
    ds = pointwise_dataset(t.film_links, _sampler(t.film_links, t.n_links), batch_size=500,
                           negatives_per_positive=1, policy="mask", reject_rounds=1, seed=4,
                           epoch=2)
    seen = np.concatenate([np.stack([b["query"].numpy(), b["item"].numpy()[:, 0]], 1) for b in ds])
    assert len(seen) == 2000
    assert len({tuple(r) for r in seen.tolist()}) == 2000


def test_batches_depend_only_on_seed_epoch_and_step(tables_dir):
    t = load_tables(tables_dir)
    sampler = _sampler(t.film_links, t.n_links)

    def items(seed, epoch, first_step=0):
        return [b["item"].numpy() for b in pointwise_dataset(
            t.film_links, sampler, batch_size=256, negatives_per_positive=3, policy="reject",
            reject_rounds=2, seed=seed, epoch=epoch, first_step=first_step)]

    a = items(1, 0)
    assert all(np.array_equal(x, y) for x, y in zip(a, items(1, 0), strict=True))
    assert not np.array_equal(a[0], items(1, 1)[0])  # reshuffled each epoch
    assert not np.array_equal(a[0], items(2, 0)[0])
    resumed = items(1, 0, first_step=3)
    assert all(np.array_equal(x, y) for x, y in zip(a[3:], resumed, strict=True))


def test_rejected_negatives_are_never_known_positives(tables_dir):
    t = load_tables(tables_dir)
    sampler = _sampler(t.film_links, t.n_links)
    known = {tuple(p) for p in t.film_links.tolist()}
    accidental = 0
    for policy in ("reject", "mask"):
        for b in pointwise_dataset(t.film_links, sampler, batch_size=500,
                                   negatives_per_positive=8, policy=policy, reject_rounds=4,
                                   seed=5, epoch=0):
            films, items, weights = b["query"].numpy(), b["item"].numpy(), b["weight"].numpy()
            for r in range(len(films)):
                for c in range(1, items.shape[1]):
                    hit = (films[r], items[r, c]) in known
                    assert not (hit and weights[r, c] > 0)  # re-drawn, or weighed 0
                    accidental += hit and policy == "mask"
    # Each film links to 10 of 170 links: "mask" must have met accidental positives, or the
    # check above proved nothing.
    assert accidental > 100


def test_frequency_sampling_follows_the_power(tables_dir):
    counts = np.array([1, 1, 100, 1000], dtype=np.int64)
    sampler = PairSampler.build(np.array([[0, 0]], np.int32), 4, counts, 1.0)
    drawn = sampler.draw([200_000], tf.constant([1, 2], tf.int64)).numpy()
    share = np.bincount(drawn, minlength=4) / len(drawn)
    assert share == pytest.approx(counts / counts.sum(), abs=0.01)


# --- optimizer ------------------------------------------------------------------------------
def test_sparse_adagrad_updates_only_the_rows_used():
    from trainer.models import SparseEmbedding
    from trainer.optimizers import SparseAdagrad

    table = SparseEmbedding(1000, 8, seed=1)
    table.build()
    optimizer = SparseAdagrad(learning_rate=0.5)
    optimizer.build(table.trainable_variables)
    before = table.embeddings.numpy().copy()
    ids = tf.constant([3, 3, 17])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(table(ids))
    grads = tape.gradient(loss, table.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)
    optimizer.apply_gradients(zip(grads, table.trainable_variables, strict=True))
    after = table.embeddings.numpy()
    changed = np.flatnonzero(np.abs(after - before).sum(axis=1))
    assert changed.tolist() == [3, 17]
    accumulator = optimizer.variables[-1].numpy()
    assert np.flatnonzero(np.abs(accumulator - 0.1).sum(axis=1)).tolist() == [3, 17]
    # Row 3 was used twice: its accumulator took both squared gradients (1 + 1).
    assert accumulator[3] == pytest.approx(np.full(8, 2.1))


# --- training runs --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tables_dir, tmp_path_factory):
    from trainer.train import run

    out = tmp_path_factory.mktemp("run") / "run"
    manifest = run(str(tables_dir), out, train_cfg("train.checkpoint_every_steps=5",
                                                   "export.map=true"))
    return out, manifest


def test_the_map_places_every_film_near_its_cluster(trained):
    """The 2-D map the web page draws: every film, finite, and each film's nearest films on
    it mostly from its planted cluster of 25 (chance: 12 %)."""
    out, manifest = trained
    xy = np.load(out / manifest["embeddings"]["film_map"])
    assert xy.shape == (200, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert manifest["film_map"]["films"] == 200 and (out / "film_map.png").stat().st_size > 0
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(200) * 1e9
    nearest = np.argsort(distances, axis=1)[:, :5]
    same = (nearest // 25 == (np.arange(200) // 25)[:, None]).mean()
    assert same > 0.6, same


def test_a_tiny_fit_learns(trained):
    out, manifest = trained
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == 6
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["auc"] > 0.85  # planted clusters; random would be 0.5
    assert history[-1]["recall@10"] > 0.3


def test_the_run_folder_holds_what_the_manifest_says(trained, tables_dir):
    out, manifest = trained
    assert manifest["kind"] == "wikifilms.run" and manifest["tables"]["id"] == "synthetic-0"
    films = np.load(out / "embeddings" / "films.npy")
    links = np.load(out / "embeddings" / "links.npy")
    assert films.shape == (200, 16) and links.shape == (170, 16) and films.dtype == np.float32
    assert np.linalg.norm(films, axis=1) == pytest.approx(np.ones(200), abs=1e-5)
    titles = pq.read_table(out / "embeddings" / "films.parquet").to_pylist()
    assert titles[7]["title"] == "Film 7 (cluster 0)" and titles[7]["director"] == "Director 0"
    assert (out / "logs" / "projector_config.pbtxt").exists()
    assert len((out / "logs" / "films_metadata.tsv").read_text().splitlines()) == 101
    assert list((out / "logs" / "train").iterdir())  # TensorBoard event file


def test_the_index_builds_on_a_trained_run(trained, tmp_path):
    """The stages meet: a run the trainer wrote is indexed, and film 7's neighbours are
    mostly its planted cluster (films 0-24)."""
    from index.build import build_index
    from index.folder import open_index
    from index.query import nearest

    out, manifest = trained
    index_manifest = build_index(out, tmp_path / "index", train_cfg())
    assert index_manifest["run"]["id"] == manifest["id"] and index_manifest["dim"] == 16
    np.testing.assert_array_equal(np.load(tmp_path / "index" / "films_map.npy"),
                                  np.load(out / "embeddings" / "films_map.npy"))
    films = open_index(tmp_path / "index", "films")
    found = films.lookup.resolve("Film 7")  # a redirect in the tables
    assert (found.id, found.how) == (7, "redirect")
    same_cluster = [n.id < 25 for n in nearest(films, [7], 10)]
    assert sum(same_cluster) >= 8


def test_model_save_load_round_trip(trained):
    import keras

    import trainer.models  # noqa: F401  (registers the custom objects)

    out, _ = trained
    model = keras.models.load_model(out / "model.keras")
    _, links = model.export_vectors()
    np.testing.assert_allclose(links, np.load(out / "embeddings" / "links.npy"), atol=1e-6)


def test_exported_films_are_made_of_their_links(trained, tables_dir):
    """A film's exported vector is the normalised count-weighted sum of its links' vectors:
    on the planted clusters, films of a cluster end up nearer each other than the films' own
    learned vectors put them."""
    from trainer.evaluate import film_vectors_from_links

    out, _ = trained
    tables = load_tables(tables_dir)
    links = np.load(out / "embeddings" / "links.npy")
    films = np.load(out / "embeddings" / "films.npy")
    expected = film_vectors_from_links(links, tables.film_links, tables.film_link_counts,
                                       tables.n_films)
    np.testing.assert_allclose(films, expected, atol=1e-5)
    film_7 = np.zeros((1, links.shape[1]))
    for link, count in zip(tables.film_links[tables.film_links[:, 0] == 7, 1],
                           tables.film_link_counts[tables.film_links[:, 0] == 7], strict=True):
        film_7 += count * links[link] / np.linalg.norm(links[link])
    np.testing.assert_allclose(films[7], (film_7 / np.linalg.norm(film_7))[0], atol=1e-5)


def test_resume_after_an_interrupted_run_reaches_the_same_result(trained, tables_dir, tmp_path):
    from trainer.train import run

    out, _ = trained
    cfg = train_cfg("train.checkpoint_every_steps=5")
    cut = tmp_path / "cut"
    assert run(str(tables_dir), cut, cfg, stop_after_steps=12) is None  # "killed" at step 12
    assert not (cut / "manifest.json").exists()
    run(str(tables_dir), cut, cfg, resume=True)  # restarts from the step-10 checkpoint
    np.testing.assert_allclose(np.load(cut / "embeddings" / "films.npy"),
                               np.load(out / "embeddings" / "films.npy"), atol=1e-5)
    full = json.loads((out / "metrics.json").read_text())["history"]
    resumed = json.loads((cut / "metrics.json").read_text())["history"]
    assert [h["auc"] for h in resumed] == pytest.approx([h["auc"] for h in full], abs=1e-6)


def test_a_non_empty_run_folder_needs_resume_or_overwrite(trained, tables_dir):
    from trainer.run_folder import RunFolderError
    from trainer.train import run

    out, _ = trained
    with pytest.raises(RunFolderError, match="--resume.*--overwrite"):
        run(str(tables_dir), out, train_cfg())


def test_overwrite_replaces_only_a_run_folder(tables_dir, tmp_path):
    from trainer.run_folder import RunFolderError
    from trainer.train import run

    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="holds files, not a run folder"):
        run(str(tables_dir), mine, train_cfg(), overwrite=True)
    assert (mine / "notes.txt").read_text() == "mine"
    with pytest.raises(RunFolderError, match="holds the input"):
        run(str(tables_dir), tables_dir.parent, train_cfg(), overwrite=True)
    with pytest.raises(RunFolderError, match="lies inside the input"):
        run(str(tables_dir), tables_dir / "run", train_cfg())
    assert not (tables_dir / "run").exists()


def test_a_refused_resume_leaves_the_finished_run_untouched(trained, tmp_path):
    """--resume on another tables folder, or with another dimension: one line, and the run
    keeps its manifest (it used to be removed before the checkpoint failed to load)."""
    from trainer.run_folder import RunFolderError, read_run_manifest
    from trainer.train import run

    out, manifest = trained
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    other = write_tables(tmp_path / "other", seed=1)
    with pytest.raises(RunFolderError, match="was started on tables .*, but .*other holds tables "
                                             ".*resume with the tables"):
        run(str(other), out, train_cfg(), resume=True)
    with pytest.raises(RunFolderError, match="does not fit this model"):
        run(str(write_tables(tmp_path / "same", seed=0)), out, train_cfg("train.dim=8"),
            resume=True)
    assert read_run_manifest(out)["id"] == manifest["id"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_a_run_on_incomplete_tables_says_so(tmp_path):
    """Tables written with ingest.keep_readable=true from a damaged dump lack its pages after
    the damage: the run's manifest carries the mark and training ends with a warning."""
    from trainer.train import run

    tables = write_tables(tmp_path / "tables", n_clusters=2)
    manifest = json.loads((tables / "manifest.json").read_text())
    manifest.update(keep_readable=True, damaged_inputs=["/data/enwiki.xml.bz2"])
    (tables / "manifest.json").write_text(json.dumps(manifest))
    ran = run(str(tables), tmp_path / "run", train_cfg("train.epochs=1"))
    assert "incomplete" in ran["tables"]["incomplete"]
    assert "/data/enwiki.xml.bz2" in ran["tables"]["incomplete"]


@pytest.mark.slow
def test_cli_mirrored_over_two_cpus_then_evaluate(tables_dir, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--tables", str(tables_dir), "--out", str(out),
         "--config", "test", "-p", "train.strategy=mirrored", "-p", "train.cpu_devices=2", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    manifest = check_manifest(out, RUN_KIND, RUN_SCHEMA_VERSION)
    assert manifest["config"]["train"]["strategy"] == "mirrored"
    assert manifest["metrics"]["auc"] > 0.8
    evaluate = subprocess.run(
        [sys.executable, "-m", "trainer", "evaluate", "--run", str(out), "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    # evaluate scores the exported vectors, as the manifest's `exported` metrics do.
    assert json.loads(evaluate.stdout)["auc"] == pytest.approx(
        manifest["metrics"]["exported"]["auc"], abs=1e-6)


def test_cli_bad_tables_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--tables", str(tmp_path / "nope"),
         "--out", str(tmp_path / "run"), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"trainer: error: {tmp_path / 'nope'}: no such tables folder; run "
        "`python -m spark_jobs.parse_dump` to produce it"]


def test_auc_by_link_films_splits_where_the_auc_is_lost():
    from trainer.evaluate import HeldOut, auc_by_link_films

    # Film 0 points at link 0 (popular: 300 films) and away from link 1 (rare: 3 films);
    # negatives are links 2 and 3, at right angles to the film.
    films = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    links = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    held = HeldOut(positives=np.array([[0, 0], [0, 1]]), negatives=np.array([[2, 3], [2, 3]]),
                   popular_negatives=np.array([[2, 3], [2, 3]]), films=np.array([0]),
                   train_links=[np.array([], dtype=np.int64)],
                   heldout_links=[np.array([0, 1])], n_links=4)
    report = auc_by_link_films(films, links, held, np.array([300, 3, 50, 50]))
    assert report == {"1-4": {"share": 0.5, "auc": 0.0}, "200+": {"share": 0.5, "auc": 1.0}}
