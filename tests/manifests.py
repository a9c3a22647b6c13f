"""What every manifest holds (conf.manifest.build_manifest), checked on each stage's own."""

from __future__ import annotations

from pathlib import Path

from conf.manifest import read_manifest

COMMON = ("kind", "schema_version", "id", "created_at", "code_version", "config",
          "config_sources")


def check_manifest(folder: Path | str, kind: str, schema_version: int) -> dict:
    """The manifest a stage wrote in `folder`, read back as its downstream reader reads it,
    with every common field filled."""
    manifest = read_manifest(folder, kind, schema_version, "folder", "write it again")
    missing = [k for k in COMMON if manifest.get(k) in (None, "", [], {})]
    assert missing == [], f"{folder}/manifest.json lacks {missing}"
    assert manifest["config_sources"][0] == "conf/base.toml"
    assert len(manifest["id"]) == 32 and manifest["created_at"].endswith("+00:00")
    return manifest
