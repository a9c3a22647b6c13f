"""Configuration shared by the three stages: base.toml, one overlay, then -p overrides.

Standard library only, so that every package (and every Spark executor) can import it.
The schema is base.toml itself: a key it lacks is unknown, and a value must have the type
of the default it replaces (an int is accepted where a float is expected); conf/schema.py
gives each key its range or allowed values, checked as each value is merged.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from conf.errors import WikifilmsError
from conf.schema import COMBINATIONS, check_setting

CONF_DIR = Path(__file__).resolve().parent

__all__ = ["CONF_DIR", "Config", "ConfigError", "load_config", "resolve_conf_path"]


class ConfigError(WikifilmsError, ValueError):
    """A configuration that cannot be used; the message is one line saying what to fix."""


class Config(dict):
    """The resolved configuration: ``cfg["links"]["min_film_count"]``.

    A plain dict of dicts (picklable for Spark executors, JSON-able for manifests) with a
    record of where it came from.
    """

    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self))


def resolve_conf_path(name_or_path: str):
    """`test` -> conf/test.toml, `spark-local.conf` -> conf/spark-local.conf, else the path.

    Built-in files are found with importlib.resources, so they are read from the zip that
    spark-submit's --py-files ships as well as from a checkout.
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    package = resources.files(__name__)
    for candidate in (name_or_path, f"{name_or_path}.toml"):
        if "/" not in candidate and package.joinpath(candidate).is_file():
            return package.joinpath(candidate)
    builtin = sorted(
        e.name[:-5] for e in package.iterdir() if e.name.endswith(".toml") and e.name != "base.toml"
    )
    raise ConfigError(
        f"config file not found: {name_or_path!r} (give a path, or one of: {', '.join(builtin)})"
    )


def _read_toml(path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "list of strings" if not value else f"list of {type(value[0]).__name__}"
    return type(value).__name__


def _check_value(where: str, default: Any, value: Any) -> Any:
    """Return `value` converted to the type of `default`, or raise ConfigError."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        element_type = type(default[0]) if default else str
        if isinstance(value, list) and all(isinstance(v, element_type) for v in value):
            return list(value)
    raise ConfigError(f"{where} must be a {_type_name(default)}, got {value!r}")


def _merge(config: dict[str, Any], overlay: Mapping[str, Any], origin: str) -> None:
    for section, values in overlay.items():
        if section not in config:
            raise ConfigError(
                f"{origin}: unknown section [{section}] (known: {', '.join(sorted(config))})"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table of settings")
        for key, value in values.items():
            if key not in config[section]:
                raise ConfigError(
                    f"{origin}: unknown setting {section}.{key} "
                    f"(known in [{section}]: {', '.join(sorted(config[section]))})"
                )
            default = config[section][key]
            value = _check_value(f"{origin}: {section}.{key}", default, value)
            problem = check_setting(section, key, value)
            if problem:
                raise ConfigError(f"{origin}: {section}.{key} {problem}, got {value!r}")
            config[section][key] = value


def _parse_override(text: str) -> tuple[str, str, Any]:
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: read it as a string
    return section, name, value


def _validate(cfg: Mapping[str, Any]) -> None:
    """Every setting against its rule (conf/schema.py; base.toml's own values included), then
    the combinations that no run can use; each message names the setting to change."""
    for section, values in cfg.items():
        for key, value in values.items():
            problem = check_setting(section, key, value)
            if problem:
                raise ConfigError(f"{section}.{key} {problem}, got {value!r}")
    for ok, message in COMBINATIONS:
        if not ok(cfg):
            raise ConfigError(message)


def load_config(config_file: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """Base defaults, then the overlay `config_file` (name or path), then `section.key=value`s."""
    base = resources.files(__name__).joinpath("base.toml")
    cfg = Config(_read_toml(base))
    cfg.sources = ["conf/base.toml"]
    if config_file:
        path = resolve_conf_path(config_file)
        _merge(cfg, _read_toml(path), str(path))
        cfg.sources.append(str(path))
    for text in overrides:
        section, name, value = _parse_override(text)
        _merge(cfg, {section: {name: value}}, f"-p {text}")
        cfg.sources.append(f"-p {text}")
    _validate(cfg)
    return cfg


def read_properties(path) -> dict[str, str]:
    """A Spark properties file (`key value` or `key=value` lines, # comments)."""
    props: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([^\s=]+)\s*(?:=|\s)\s*(.*)", line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected 'key value', got {line!r}")
        props[match.group(1)] = match.group(2).strip()
    return props
