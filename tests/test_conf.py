import pytest

from conf import ConfigError, load_config, read_properties, resolve_conf_path


def test_base_defaults_load_and_have_every_section():
    cfg = load_config()
    assert set(cfg) == {"spark", "ingest", "links", "pairs", "sample", "train", "eval", "export",
                        "index", "download", "ratings", "rank", "rate"}
    assert cfg["links"]["min_film_count"] == 3
    assert cfg["spark"]["master"] == "local[*]"


def test_overlay_then_overrides_win_in_order():
    cfg = load_config("test", ["links.min_film_count=7", "ingest.parse_timeout_s=5",
                               'links.stop_list=["United States", "Category:American films"]',
                               "spark.app_name=bare-word"])
    assert cfg["spark"]["master"] == "local[2]"  # from test.toml
    assert cfg["links"]["min_film_count"] == 7
    timeout = cfg["ingest"]["parse_timeout_s"]
    assert timeout == 5.0 and isinstance(timeout, float)
    assert cfg["links"]["stop_list"] == ["United States", "Category:American films"]
    assert cfg["spark"]["app_name"] == "bare-word"
    assert cfg.sources[1].endswith("test.toml") and cfg.sources[-1] == "-p spark.app_name=bare-word"


@pytest.mark.parametrize(
    "override, message",
    [
        ("links.min_films=3", "unknown setting links.min_films"),
        ("linkz.min_film_count=3", "unknown section [linkz]"),
        ("links.min_film_count=three", "links.min_film_count must be a int"),
        ("links.keep_categories=1", "must be a bool"),
        ("links.stop_list=[1, 2]", "must be a list of strings"),
        ("links.min_film_count=0", "links.min_film_count must be >= 1"),
        ("pairs.max_link_films=1", "pairs.max_link_films must be >= 2"),
        ("ingest.storage_level=SOMETIMES", "ingest.storage_level must be one of"),
        ("nodot=3", "must look like section.key=value"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


def test_unknown_overlay_file_lists_the_builtin_ones(tmp_path):
    with pytest.raises(ConfigError, match="local, test"):
        load_config("no-such-overlay")
    bad = tmp_path / "bad.toml"
    bad.write_text("[links]\nmin_film_count = 'x'\n")
    with pytest.raises(ConfigError, match=r"bad.toml: links.min_film_count must be a int"):
        load_config(str(bad))


def test_every_builtin_overlay_is_valid():
    for name in ("local", "test", "cluster"):
        load_config(name)


def test_spark_properties_files_parse(tmp_path):
    props = read_properties(resolve_conf_path("spark-local.conf"))
    assert props["spark.driver.memory"] == "4g"
    f = tmp_path / "x.conf"
    f.write_text("# comment\nspark.a=1\nspark.b   two words\n\n")
    assert read_properties(f) == {"spark.a": "1", "spark.b": "two words"}


@pytest.mark.parametrize(("override", "message"), [
    ('train.accidental_positives="keep"', "train.accidental_positives must be reject or mask"),
    ("train.optimizer=adam", "train.optimizer must be adagrad or sgd"),
    ("train.holdout_fraction=0.7", "train.holdout_fraction must be in"),
    ("eval.recall_at=[0]", "eval.recall_at must hold k >= 1"),
    ("index.search_k=0", "index.search_k must be -1 or >= 1"),
    ("index.target_recall=1.5", "index.target_recall must be in"),
    ("index.n_trees=0", "index.n_trees must be >= 1"),
])
def test_impossible_train_settings_fail_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_gpu_overlay_loads():
    cfg = load_config("gpu")
    assert cfg["train"]["strategy"] == "mirrored" and cfg["train"]["batch_size"] == 32768
