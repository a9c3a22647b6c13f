"""Build the zip that `spark-submit --py-files` ships to executors (stdlib only)."""

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("spark_jobs", "conf", "wikititles")
SUFFIXES = (".py", ".toml", ".conf", ".properties")


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*")):
                if path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                    z.write(path, path.relative_to(ROOT).as_posix())
    tmp.replace(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist" / "wikifilms-jobs.zip")))
