"""The manifest every stage writes last, and the one reader every downstream stage uses.

A folder without `manifest.json` is an unfinished (or foreign) write; a manifest of another
kind or schema version comes from another stage or version. Either is refused with one line
naming the folder and how to produce it. Each package passes its own error class.
`build_manifest` makes every stage's manifest, so their common fields cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conf.errors import WikifilmsError
from conf.jsontext import dumps

MANIFEST = "manifest.json"
# Written first into a folder that a stage fills in place (a training run): it names the
# folder's kind, so that an unfinished run can be told from someone else's files.
STARTED = "started.json"
TABLES_KIND, TABLES_SCHEMA_VERSION = "wikifilms.tables", 1
RUN_KIND, RUN_SCHEMA_VERSION = "wikifilms.run", 1
RATINGS_KIND, RATINGS_SCHEMA_VERSION = "wikifilms.ratings", 1
# A ranking run (trainer.recommend): user and item vectors learned from a ratings folder.
RANKING_KIND, RANKING_SCHEMA_VERSION = "wikifilms.ranking_run", 1
# A rating run (trainer.recommend.rating_run): predicted stars, RMSE and MAE beside baselines.
RATING_KIND, RATING_SCHEMA_VERSION = "wikifilms.rating_run", 1
# Index schema 2: every file listed with its whole-file SHA-256 (1 had a partial fingerprint).
INDEX_KIND, INDEX_SCHEMA_VERSION = "wikifilms.index", 2


def build_manifest(kind: str, schema_version: int, cfg, *, sections: Iterable[str] | None = None,
                   manifest_id: str | None = None, **fields: Any) -> dict:
    """A stage's manifest: what every manifest holds, then the stage's own `fields` (its
    upstream folders' ids under the names downstream readers look for: "tables", "ratings",
    "run" ..., its counts, metrics and timings).

    Every manifest: `kind` and `schema_version` (what a reader checks), `id` (a new one, or
    the `manifest_id` a stage chose before writing), `created_at`, `code_version`, `config`
    (the whole configuration, or its `sections`) and `config_sources` (the files and -p
    overrides it came from: `--show-config` reads them back)."""
    from conf.version import code_version

    config = cfg.to_dict() if sections is None else {s: dict(cfg[s]) for s in sections}
    return {"kind": kind, "schema_version": schema_version,
            "id": manifest_id or uuid.uuid4().hex,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code_version": code_version(), "config": config,
            "config_sources": list(getattr(cfg, "sources", []) or []), **fields}


def write_json(path: str | Path, data) -> None:
    """Write `data` as JSON (conf.jsontext: no NaN) via a temporary file and a rename: a
    reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


class ManifestError(WikifilmsError, ValueError):
    """A folder whose manifest is missing, unreadable, or of another kind or version."""


def read_manifest(folder: str | Path, kind: str, schema_version: int, what: str, remedy: str,
                  error: type[Exception] = ManifestError) -> dict:
    """The manifest of a finished local `what` folder ("tables", "run"), or `error`."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise error(f"{folder}: no such {what} folder; {remedy}")
    if not path.exists():
        raise error(f"{folder} has no {MANIFEST}: an unfinished or foreign write; {remedy}")
    return parse_manifest(path.read_text(), str(path), kind, schema_version, remedy, error)


def parse_manifest(text: str, where: str, kind: str, schema_version: int, remedy: str,
                   error: type[Exception] = ManifestError) -> dict:
    """A manifest's JSON text (read from `where`), or `error` when it is not valid JSON or of
    another kind or schema version."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{where} is not valid JSON ({e}); {remedy}") from e
    if not isinstance(manifest, dict) or manifest.get("kind") != kind \
            or manifest.get("schema_version") != schema_version:
        found = manifest if isinstance(manifest, dict) else {}
        raise error(f"{where}: kind {found.get('kind')!r} schema "
                    f"{found.get('schema_version')!r}, expected {kind!r} schema "
                    f"{schema_version}; {remedy}")
    return manifest
