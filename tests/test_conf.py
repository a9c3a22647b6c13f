import re

import pytest

from conf import ConfigError, load_config, read_properties, resolve_conf_path
from conf.schema import RULES


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
    ('train.accidental_positives="keep"', "train.accidental_positives must be one of reject, mask"),
    ("train.optimizer=adam", "train.optimizer must be one of adagrad, sgd"),
    ("train.holdout_fraction=0.7", "train.holdout_fraction must be >= 0 and < 0.5"),
    ("eval.recall_at=[0]", "eval.recall_at members must be >= 1"),
    ("index.search_k=0", "index.search_k must be -1 or >= 1"),
    ("index.target_recall=1.5", "index.target_recall must be > 0 and <= 1"),
    ("index.n_trees=0", "index.n_trees must be >= 1"),
    ("train.learning_rate=nan", "train.learning_rate must be > 0"),
    ("train.learning_rate=inf", "train.learning_rate must be > 0"),
])
def test_impossible_train_settings_fail_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_gpu_overlay_loads():
    cfg = load_config("gpu")
    assert cfg["train"]["strategy"] == "mirrored" and cfg["train"]["batch_size"] == 32768


# Issue 34: the ratings trainers' settings were not checked (adam gave a traceback, a
# negative rate trained a model worse than chance, 100,000 folds started 100,000 models).
@pytest.mark.parametrize(("override", "message"), [
    ("rank.optimizer=adam", "rank.optimizer must be one of adagrad, sgd, got 'adam'"),
    ("rank.loss=foo", "rank.loss must be one of bpr, softmax"),
    ("rank.learning_rate=-0.1", "rank.learning_rate must be > 0"),
    ("rank.dim=0", "rank.dim must be >= 2"),
    ('rank.features=["ids", "posters"]', "rank.features must list one or more of ids, genres"),
    ("rank.features=[]", "rank.features must list one or more of"),
    ('rank.user_features=["ids", "ids"]', "each once"),
    ("rank.cold_share=1.5", "rank.cold_share must be >= 0 and <= 0.9"),
    ("rank.disliked_weight=2", "rank.disliked_weight must be >= 0 and <= 1"),
    ("rate.folds=100000", "rate.folds must be >= 1 and <= 20"),
    ("rate.folds=0", "rate.folds must be >= 1 and <= 20"),
    ("rate.dropout=1.0", "rate.dropout must be >= 0 and < 1"),
    ("rate.mlp=[0]", "rate.mlp members must be >= 1"),
    ("rate.optimizer=adam", "rate.optimizer must be one of adagrad, sgd"),
    ("ratings.year_tolerance=-1", "ratings.year_tolerance must be >= 0"),
    ("ratings.min_year=20", "ratings.min_year must be 0 or >= 1800"),
    ("ratings.min_user_ratings=-3", "ratings.min_user_ratings must be >= 0"),
])
def test_bad_ratings_settings_fail_at_load_naming_key_and_what_it_allows(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_config(None, [override])
    assert str(info.value).startswith(f"-p {override}: ") and "\n" not in str(info.value)


def test_combinations_of_settings_are_checked():
    with pytest.raises(ConfigError, match="ratings.min_year must be <= ratings.max_year"):
        load_config(None, ["ratings.min_year=2000", "ratings.max_year=1990"])
    with pytest.raises(ConfigError, match="rate.gmf = false needs rate.mlp_branch"):
        load_config(None, ["rate.gmf=false"])


def test_every_setting_of_base_toml_has_a_rule():
    cfg = load_config()
    missing = [f"{s}.{k}" for s, values in cfg.items() for k in values
               if k not in RULES.get(s, {})]
    assert missing == []
    stale = [f"{s}.{k}" for s, keys in RULES.items() for k in keys if k not in cfg.get(s, {})]
    assert stale == []


# Issue 35: about 20 error classes without a common base, each entry point with its own tuple.
def test_every_error_the_project_raises_is_one_family_carrying_its_exit_status():
    import importlib
    import inspect
    import pkgutil

    from conf.errors import WikifilmsError

    internal = {"spark_jobs.wikitext.ParseTimeout"}  # an alarm's signal, caught where raised
    found = {}
    for package in ("conf", "spark_jobs", "trainer", "index", "download", "sample_dump",
                    "wikititles", "wikifilms"):
        root = importlib.import_module(package)
        names = [package] + [info.name for info in
                             pkgutil.walk_packages(root.__path__, f"{package}.")
                             if not info.name.endswith("__main__")]
        for module_name in names:
            module = importlib.import_module(module_name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module_name and issubclass(cls, BaseException):
                    found[f"{module_name}.{name}"] = cls
    assert len(found) >= 20
    outside = [n for n, cls in found.items()
               if not issubclass(cls, WikifilmsError) and n not in internal]
    assert outside == []
    statuses = {n: cls.exit_status for n, cls in found.items() if n not in internal}
    assert statuses["index.answers.NotFound"] == statuses["index.ranking.NotInRatings"] == 1
    assert statuses["conf.ConfigError"] == statuses["trainer.ratings.RatingsError"] == 2
