"""What every setting of base.toml may be: one rule a key, checked as each value is merged.

Standard library only. The type of a setting is its default's in base.toml (conf/__init__.py);
this module adds what the type cannot say: a range, a list of allowed words, the allowed
members of a list. Every key of base.toml has a rule here (a test checks it), so that a value
no run can use is refused at start with one line naming the key and what it allows, before
anything is read or written. Rules that tie several keys together are in COMBINATIONS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Text:
    """Any string (a name, a path, a URL); `nonempty` refuses ""."""

    nonempty: bool = False

    def problem(self, value: Any) -> str | None:
        return "must not be empty" if self.nonempty and not value.strip() else None


@dataclass(frozen=True)
class Flag:
    """true or false (the type check is all there is)."""

    def problem(self, value: Any) -> str | None:
        return None


@dataclass(frozen=True)
class Number:
    """A finite number within [low, high] (either side open, or absent); `also` lists
    special values allowed besides (-1: "all" or "the default")."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple = ()

    def allows(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        text = " and ".join(parts) or "a finite number"
        return " or ".join([*(f"{a:g}" for a in self.also), text]) if self.also else text

    def problem(self, value: Any) -> str | None:
        if value in self.also:
            return None
        ok = math.isfinite(value)
        if ok and self.low is not None:
            ok = value > self.low if self.low_open else value >= self.low
        if ok and self.high is not None:
            ok = value < self.high if self.high_open else value <= self.high
        return None if ok else f"must be {self.allows()}"


@dataclass(frozen=True)
class OneOf:
    """One of a few words."""

    words: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        return None if value in self.words else f"must be one of {', '.join(self.words)}"


@dataclass(frozen=True)
class SubsetOf:
    """A list of distinct words from `words` (at least one unless `may_be_empty`)."""

    words: tuple[str, ...]
    may_be_empty: bool = False

    def problem(self, value: Any) -> str | None:
        unknown = [v for v in value if v not in self.words]
        if unknown or len(set(value)) != len(value) or (not value and not self.may_be_empty):
            return (f"must list {'' if self.may_be_empty else 'one or more of '}"
                    f"{', '.join(self.words)}, each once")
        return None


@dataclass(frozen=True)
class Each:
    """A list whose members each pass `rule` (at least one unless `may_be_empty`)."""

    rule: Number | Text
    may_be_empty: bool = False

    def problem(self, value: Any) -> str | None:
        if not value and not self.may_be_empty:
            return "must not be empty"
        for member in value:
            problem = self.rule.problem(member)
            if problem:
                return f"members {problem} (got {member!r})"
        return None


ANY_TEXT, FLAG = Text(), Flag()
POSITIVE = Number(0, low_open=True)
COUNT = Number(0)  # 0, 1, 2 ...
SEED = Number(0)
SHARE = Number(0, 1)
OPTIMIZERS = OneOf(("adagrad", "sgd"))  # sparse updates only: docs/stack.md
FEATURES = SubsetOf(("ids", "genres", "links", "film_vector"))
YEAR = Number(1800, 3000, also=(0,))

RULES: dict[str, dict[str, Any]] = {
    "spark": {
        "master": Text(nonempty=True), "app_name": Text(nonempty=True),
        "properties_file": ANY_TEXT, "max_partition_bytes": Number(4096),
        "min_partitions": COUNT, "shuffle_partitions": COUNT, "progress_interval_s": COUNT,
        "log_level": OneOf(("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")),
        "log_file": ANY_TEXT, "jit": OneOf(("auto", "c1", "tiered")),
        "jit_c1_max_bytes": COUNT, "class_archive": OneOf(("auto", "off")),
        "class_archive_dir": ANY_TEXT, "event_log_dir": ANY_TEXT,
    },
    "ingest": {
        "infobox_names": Each(Text(nonempty=True)), "max_page_bytes": POSITIVE,
        "parse_timeout_s": POSITIVE, "keep_readable": FLAG,
        "reader": OneOf(("auto", "hadoop")), "skipped_examples": COUNT,
        "storage_level": OneOf(("MEMORY_ONLY", "MEMORY_AND_DISK", "DISK_ONLY",
                                "MEMORY_AND_DISK_DESER")),
    },
    "links": {
        "keep_categories": FLAG, "min_film_count": Number(1),
        "stop_list": Each(Text(nonempty=True), may_be_empty=True), "stop_list_file": ANY_TEXT,
        "max_redirect_hops": Number(1), "drop_self_links": FLAG,
    },
    "pairs": {
        "enabled": FLAG, "max_link_films": Number(2), "min_shared": Number(1),
        "max_pair_rows": COUNT,
    },
    "sample": {
        "films": Number(1), "seed": SEED, "articles_per_film": COUNT,
        "redirect_share": Number(0, 0.9, high_open=True),
        "other_namespace_share": Number(0, 0.5, high_open=True),
        "pages_per_stream": Number(1), "wiki": Text(nonempty=True), "date": Text(nonempty=True),
    },
    "train": {
        "dim": Number(2), "epochs": Number(1), "batch_size": Number(2),
        "negatives_per_positive": Number(1), "negative_power": Number(0, 2),
        "accidental_positives": OneOf(("reject", "mask")), "reject_rounds": Number(1),
        "weight_by_count": FLAG, "optimizer": OPTIMIZERS, "learning_rate": POSITIVE,
        "logit_scale": POSITIVE, "holdout_fraction": Number(0, 0.5, high_open=True),
        "min_links_for_holdout": Number(2), "seed": SEED, "jit_compile": FLAG,
        "strategy": OneOf(("default", "mirrored", "multi_worker")), "cpu_devices": COUNT,
        "deterministic": FLAG, "checkpoint_every_steps": COUNT, "early_stop_patience": COUNT,
        "early_stop_min_delta": COUNT, "progress_interval_s": COUNT,
    },
    "rank": {
        "features": FEATURES, "user_features": SubsetOf(("ids", "history")),
        "compare": FLAG, "dim": Number(2), "epochs": Number(1), "batch_size": COUNT,
        "negatives_per_positive": Number(1), "loss": OneOf(("bpr", "softmax")),
        "negative_power": Number(0, 2), "optimizer": OPTIMIZERS, "learning_rate": POSITIVE,
        "l2": COUNT, "init_stddev": POSITIVE, "min_rating": POSITIVE,
        "disliked_weight": SHARE, "test_per_user": Number(1), "validation_per_user": Number(1),
        "cold_share": Number(0, 0.9), "link_min_items": Number(1), "seed": SEED,
        "early_stop_patience": COUNT, "early_stop_min_delta": COUNT, "eval_max_users": COUNT,
        "validation_max_users": COUNT, "jit_compile": FLAG,
        "deterministic": FLAG,
    },
    "rate": {
        # More than 20 folds measures little more and trains 20+ models.
        "features": FEATURES, "folds": Number(1, 20), "dim": Number(2),
        "validation_share": Number(0, 0.5, high_open=True), "early_stop_patience": COUNT,
        "early_stop_min_delta": COUNT,
        "mlp_branch": FLAG, "mlp": Each(Number(1)), "dropout": Number(0, 1, high_open=True),
        "gmf": FLAG, "epochs": Number(1), "batch_size": COUNT, "optimizer": OPTIMIZERS,
        "learning_rate": POSITIVE, "l2": COUNT, "init_stddev": POSITIVE, "seed": SEED,
        "deterministic": FLAG, "jit_compile": FLAG,
    },
    "ratings": {
        "year_tolerance": Number(0, 10), "examples": Number(0, 1000), "min_year": YEAR,
        "max_year": YEAR, "min_user_ratings": COUNT, "min_item_ratings": COUNT,
    },
    "eval": {
        "negatives_per_positive": Number(1), "max_films": Number(1),
        "recall_at": Each(Number(1)), "pair_k": Number(1), "taste_min_rating": POSITIVE,
        "taste_holdout": Number(0, 1, low_open=True, high_open=True),
        "taste_max_users": COUNT,
    },
    "export": {"projector_max_points": Number(1), "map": FLAG, "map_labels": COUNT},
    "index": {
        "n_trees": Number(1), "search_k": Number(1, also=(-1,)), "tune_search_k": FLAG,
        "target_recall": Number(0, 1, low_open=True), "prefer_exact_when_faster": FLAG,
        "recall_queries": Number(1), "seed": SEED, "vector_weight": SHARE,
        "candidates": Number(1), "on_disk_build": FLAG, "build_jobs": Number(1, also=(-1,)),
    },
    "download": {
        "base_url": Text(nonempty=True), "movielens_url": Text(nonempty=True),
        "user_agent": Text(nonempty=True), "timeout_s": POSITIVE, "retries": COUNT,
        "backoff_s": COUNT, "chunk_bytes": Number(1024),
    },
}


def check_setting(section: str, key: str, value: Any) -> str | None:
    """What is wrong with `value` for section.key ("must be >= 2"), or None."""
    rule = RULES.get(section, {}).get(key)
    return rule.problem(value) if rule is not None else None


def _years(r: Mapping[str, Any]) -> bool:
    return not (r["min_year"] and r["max_year"]) or r["min_year"] <= r["max_year"]


# Settings that are each allowed but not together: (test on the whole config, message).
COMBINATIONS: list[tuple[Callable[[Mapping[str, Any]], bool], str]] = [
    (lambda c: _years(c["ratings"]), "ratings.min_year must be <= ratings.max_year"),
    (lambda c: c["rate"]["gmf"] or c["rate"]["mlp_branch"],
     "rate.gmf = false needs rate.mlp_branch = true (else the model is its biases only)"),
]
