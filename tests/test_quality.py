"""trainer/quality.py: pair hit@k, taste AUC and the co-link baselines on hand-placed films
whose answers are known (numpy and scipy only: no TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conf import load_config
from trainer.quality import (
    CoLinkSimilarity,
    Popularity,
    TasteSplit,
    TruthError,
    VectorSimilarity,
    auc,
    nearest,
    pair_hit_at_k,
    quality_report,
    read_pairs,
    taste_auc,
)


def circle(degrees: list[float]) -> np.ndarray:
    r = np.deg2rad(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1).astype(np.float32)


# Films 0-5 at these angles: 0's nearest is 1, then 2; 3's is 4; 5 is far from all.
VECTORS = circle([0, 10, 30, 100, 115, 250])


def test_nearest_leaves_the_film_out_and_orders_by_cosine():
    top = nearest(VectorSimilarity(VECTORS), np.array([0, 3]), 2)
    assert top.tolist() == [[1, 2], [4, 2]]


def test_pair_hit_counts_each_direction():
    sim = VectorSimilarity(VECTORS)
    # (0, 1): each is the other's nearest. (0, 4): 4 is not in 0's top 2, nor 0 in 4's.
    # (2, 3): 2 is in 3's top 2 (4, 2) but 3 is not in 2's (1, 0).
    assert pair_hit_at_k(sim, np.array([[0, 1]]), 1) == 1.0
    assert pair_hit_at_k(sim, np.array([[0, 4]]), 2) == 0.0
    assert pair_hit_at_k(sim, np.array([[2, 3]]), 2) == 0.5
    assert pair_hit_at_k(sim, np.array([[0, 1], [0, 4], [2, 3]]), 2) == pytest.approx(0.5)


def test_idf_weighting_prefers_the_rare_shared_link():
    # Film 0 shares a link on three of the four films (link 0) with film 2, and a link on
    # two films (link 1) with film 1; each has one more link of its own.
    film_links = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 0], [2, 3], [3, 0], [3, 4]])
    plain = CoLinkSimilarity.of_links(film_links, 4, 5, "plain")
    idf = CoLinkSimilarity.of_links(film_links, 4, 5, "idf")
    assert plain.scores(np.array([0]))[0, [1, 2]] == pytest.approx([0.5, 0.5])
    idf_scores = idf.scores(np.array([0]))[0]
    common, rare, own = np.log(4 / 3), np.log(2), np.log(4)
    assert idf_scores[1] == pytest.approx(rare ** 2 / (np.hypot(common, rare)
                                                       * np.hypot(rare, own)))
    assert idf_scores[2] == pytest.approx(common ** 2 / (np.hypot(common, rare)
                                                         * np.hypot(common, own)))
    assert nearest(idf, np.array([0]), 1).tolist() == [[1]]


def test_auc_counts_ties_as_half():
    assert auc(np.array([3.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0, 2.0])) == 0.25
    assert auc(np.array([2.0, 0.0]), np.array([1.0])) == 0.5


def test_taste_split_holds_out_a_share_of_each_users_liked_films():
    # User 0 liked films 0-4 (5 stars) and rated film 5 badly; user 1 liked one film only.
    user = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    film = np.array([0, 1, 2, 3, 4, 5, 0, -1])
    rating = np.array([5, 5, 4, 5, 4, 1, 5, 5], dtype=np.float32)
    split = TasteSplit.build(user, film, rating, 8, holdout=0.2, seed=0)
    assert split.users == 1 and split.linked_films == 6
    (kept,), (held,), (unrated,) = split.kept, split.held, split.unrated
    assert len(held) == 1 and sorted([*kept, *held]) == [0, 1, 2, 3, 4]
    assert unrated.tolist() == []  # every linked film was rated by user 0
    assert split.popularity[held[0]] == 0  # its rating is the held-out one
    assert split.popularity[0] == (1 if held[0] == 0 else 2)  # user 1's rating counts


def test_taste_auc_on_known_profiles():
    # Liked: films 0 and 1 kept, 2 held out; never rated: 3 (near 0) and 5 (far).
    split = TasteSplit(kept=[np.array([0, 1])], held=[np.array([2])],
                       unrated=[np.array([3, 5])], popularity=np.array([0, 0, 9, 1, 0, 5]),
                       linked_films=6)
    assert taste_auc(VectorSimilarity(VECTORS), split) == 1.0
    assert taste_auc(Popularity(split.popularity), split) == 1.0
    reversed_split = TasteSplit(kept=[np.array([0, 1])], held=[np.array([5])],
                                unrated=[np.array([2, 3])], popularity=split.popularity,
                                linked_films=6)
    assert taste_auc(VectorSimilarity(VECTORS), reversed_split) == 0.0


def test_pairs_files_in_their_three_shapes(tmp_path):
    titles = ["Alpha", "Alpha II", "Beta", "Beta Returns", "Gamma"]
    listed = tmp_path / "pairs.json"
    listed.write_text(json.dumps([["Alpha", "Alpha II"], ["Beta", "Nowhere"]]))
    read = read_pairs(listed, titles)
    assert read.pairs.tolist() == [[0, 1]] and read.given == 2
    assert read.missing_titles == ["Nowhere"]
    sequels = tmp_path / "truth.json"
    sequels.write_text(json.dumps({"films": titles, "sequels": [["Beta", "Beta Returns"]]}))
    assert read_pairs(sequels, titles).pairs.tolist() == [[2, 3]]
    sample = tmp_path / "sample-truth.json"
    sample.write_text(json.dumps({"franchises": [{"films": ["Alpha", "Alpha II", "Gamma"]}]}))
    assert read_pairs(sample, titles).pairs.tolist() == [[0, 1], [0, 4], [1, 4]]
    none = tmp_path / "none.json"
    none.write_text(json.dumps([["X", "Y"]]))
    with pytest.raises(TruthError, match="none of its 1 pairs names two films"):
        read_pairs(none, titles)
    (tmp_path / "bad.json").write_text(json.dumps({"pairs": [["only one"]]}))
    with pytest.raises(TruthError, match="expected a list of"):
        read_pairs(tmp_path / "bad.json", titles)


def test_the_report_puts_the_vectors_beside_the_baselines(tmp_path):
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([["F0", "F1"], ["F3", "F4"]]))
    film_links = np.array([[0, 0], [1, 0], [2, 1], [3, 2], [4, 2], [5, 3]])
    report = quality_report(VECTORS, film_links, [f"F{i}" for i in range(6)], 4,
                            load_config("test"), pairs=pairs)
    assert report["pairs"]["used"] == 2
    assert set(report["pair_hit@10"]) == {"vectors", "colink_plain", "colink_idf"}
    assert report["pair_hit@10"]["colink_idf"] == 1.0
