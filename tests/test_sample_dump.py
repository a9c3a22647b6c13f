import bz2
import json
from pathlib import Path

import pytest

from conf import load_config
from sample_dump.dump import generate


@pytest.fixture(scope="module")
def sample_cfg():
    return dict(load_config("test")["sample"])


def test_same_seed_same_dump(tmp_path, sample_cfg):
    a = generate(tmp_path / "a", 12, 3, "xml", sample_cfg)
    b = generate(tmp_path / "b", 12, 3, "xml", sample_cfg)
    c = generate(tmp_path / "c", 12, 4, "xml", sample_cfg)
    read = lambda s: Path(s["files"][0]).read_bytes()  # noqa: E731
    assert read(a) == read(b) and read(a) != read(c)


def test_multistream_index_points_at_each_stream(tmp_path, sample_cfg):
    summary = generate(tmp_path, 10, 1, "multistream", sample_cfg)
    dump, index = (Path(f).read_bytes() for f in summary["files"])
    lines = bz2.decompress(index).decode().splitlines()
    assert len(lines) == summary["pages"]
    offset, page_id, title = lines[150].split(":", 2)
    stream = bz2.BZ2Decompressor().decompress(dump[int(offset):])
    assert f"<id>{page_id}</id>".encode() in stream and title.encode("utf-8") in stream


def test_parts_are_complete_documents_named_like_the_real_ones(tmp_path, sample_cfg):
    summary = generate(tmp_path, 10, 1, "parts", sample_cfg, parts=3)
    names = [f.rsplit("/", 1)[1] for f in summary["files"]]
    assert len(names) == 3 and all(n.startswith("enwiki-20261101-pages-articles") for n in names)
    assert all(".xml-p" in n and n.endswith(".bz2") for n in names)
    for f in summary["files"]:
        with bz2.open(f, "rt") as part:
            text = part.read()
        assert text.startswith("<mediawiki") and text.rstrip().endswith("</mediawiki>")


def test_realistic_mix_and_truth(tmp_path, sample_cfg):
    summary = generate(tmp_path, 30, 2, "xml", sample_cfg)
    truth = json.loads(Path(summary["truth"]).read_text())
    assert len(truth["films"]) == 30 and summary["films"] == 30
    assert 0.35 < summary["redirects"] / summary["pages"] < 0.55
    assert summary["other_namespaces"] > 0
    assert any(len(f["films"]) >= 2 for f in truth["franchises"])
    text = Path(summary["files"][0]).read_text(encoding="utf-8")
    for needle in ("{{Infobox film", "{{Plainlist", "[[File:", "&lt;ref", "[[Category:",
                   "&lt;!--", "#REDIRECT", "<redirect title=", "<ns>10</ns>", "<ns>1</ns>",
                   "{| class=&quot;wikitable&quot;", "&amp;amp;"):
        assert needle in text, needle


def test_film_articles_hold_as_many_links_as_real_ones(sample_cfg):
    """DESIGN.md: ~50-400 links a film article, most targets on few films, a few on most."""
    from collections import Counter

    from sample_dump.pages import plan_pages
    from sample_dump.world import World

    n_films = 400
    _, truth = plan_pages(World(n_films, 5), sample_cfg)
    per_film = sorted(len(f["links"]) for f in truth.films.values())
    assert per_film[0] >= 30 and per_film[-1] <= 420
    assert 70 <= per_film[n_films // 2] <= 130  # the median
    assert per_film[n_films * 95 // 100] >= 160  # a long tail of long articles
    films_per_target = Counter(t for f in truth.films.values() for t in f["links"])
    on_one = sum(1 for n in films_per_target.values() if n == 1)
    assert on_one / len(films_per_target) > 0.5
    assert sum(1 for n in films_per_target.values() if n >= n_films // 2) >= 3
