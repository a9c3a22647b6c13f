"""The index folder: what `build` writes and what `query` opens and checks.

    films.ann, links.ann                 Annoy (angular) forests, item id = dense id
    films.npy, links.npy                 the run's L2-normalised vectors (exact search, means)
    films.arrow, links.arrow             id -> title, year, director / film_count, film_id
    films_aliases.arrow, links_aliases.arrow   title lookup (index.lookup)
    films_colink_*.npy, links_colink_*.npy     the films' sparse link vectors (index.colink)
    films_map.npy                        float32 [films, 2]: the run's t-SNE map (index serve),
                                         when the run has one
    manifest.json                        written last (kind wikifilms.index)

Every file is listed in the manifest with its size and SHA-256 (checked once per version of
the file: index/verified.py), and every Arrow file carries the index id in its schema
metadata, so a file copied in from another build, truncated or overwritten is refused by
name before Annoy touches it (Annoy crashes the process on a damaged file).

`build --overwrite` swaps the new folder in with two renames; a query that read the old
manifest and then meets the new files (or no folder, between the renames) opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from conf.errors import WikifilmsError
from conf.manifest import INDEX_KIND, INDEX_SCHEMA_VERSION, read_manifest
from index import verified
from index.colink import CoLink
from index.lookup import TitleLookup

KINDS = ("films", "links")
MAP_FILE = "films_map.npy"
ROLES = ("ann", "vectors", "items_table", "aliases")


def file_names(kind: str) -> dict[str, str]:
    """The file of each role on one side of the folder (module docstring)."""
    return dict(zip(ROLES, (f"{kind}.ann", f"{kind}.npy", f"{kind}.arrow",
                            f"{kind}_aliases.arrow"), strict=True))
REBUILD = "rebuild it with `python -m index build --run RUN_DIR --out INDEX_DIR`"


class IndexFolderError(WikifilmsError, ValueError):
    """An index folder that cannot be written or read; the message names the file."""


# A query that fails while `build --overwrite` swaps folders waits this long and opens again.
SWAP_RETRY_S = 0.05


def file_entry(path: Path) -> tuple[dict, list[int]]:
    """The manifest's entry for a file just written, and its verified.file_state."""
    state = verified.file_state(path)
    return ({"file": path.name, "bytes": path.stat().st_size,
             "sha256": verified.sha256_of(path)}, state)


def read_arrow(path: Path) -> pa.Table:
    """An Arrow IPC file, memory-mapped (no copy: opening a large table costs milliseconds)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def write_arrow(path: Path, table: pa.Table, index_id: str) -> None:
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"wikifilms.index": index_id.encode()})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


@dataclass
class ItemIndex:
    """One side of an index folder (films or links), opened for queries."""

    kind: str
    ann: object  # annoy.AnnoyIndex, memory-mapped
    vectors: np.ndarray  # memory-mapped, L2-normalised
    items: pa.Table  # id -> title and facts
    lookup: TitleLookup
    search_k: int  # for k = 10; scaled with the number of answers asked for
    n_trees: int
    exact_by_default: bool  # the build found brute force faster than Annoy at the target
    colink: CoLink | None = None  # films only, when the build had the tables' film_links
    vector_weight: float = 1.0  # of the vectors' cosine in a film's score (index.colink)
    candidates: int = 100  # films each of the two similarities proposes for re-ranking
    map_xy: np.ndarray | None = None  # films only: [items, 2] map coordinates, memory-mapped

    def title(self, i: int) -> str:
        return self.items.column("title")[i].as_py()


def check_file(folder: Path, entry: dict, *, force: bool = False) -> Path:
    """The path of a manifest-listed file, or IndexFolderError when it is missing or differs
    from what the build wrote (`force`: hash it even if this version was verified before)."""
    path = folder / entry["file"]
    if not path.is_file():
        raise IndexFolderError(f"{path}: missing; {REBUILD}")
    if (path.stat().st_size != entry["bytes"]
            or not verified.matches(path, entry["sha256"], force=force)):
        raise IndexFolderError(f"{path}: does not match {folder / 'manifest.json'} (changed, "
                               f"damaged, truncated or from another build); {REBUILD}")
    return path


def side_files(manifest: dict, kind: str, folder: Path) -> dict[str, dict]:
    """The manifest's file entries of one side, by role (ann, vectors, items_table, aliases)."""
    try:
        side = manifest[kind]
        return {role: side[role] for role in ROLES}
    except (KeyError, TypeError) as e:
        raise IndexFolderError(f"{folder / 'manifest.json'}: missing or bad field {e} (written "
                               f"by another version?); {REBUILD}") from e


def read_index_manifest(folder: str | Path) -> dict:
    return read_manifest(folder, INDEX_KIND, INDEX_SCHEMA_VERSION, "index", REBUILD,
                         IndexFolderError)


def _manifest_id(folder: Path) -> str | None:
    try:
        return read_index_manifest(folder)["id"]
    except IndexFolderError:
        return None


def open_index(folder: str | Path, kind: str) -> ItemIndex:
    """The films or links side of a finished index folder, every file checked first; opened
    again once when the folder was swapped by a build meanwhile (module docstring)."""
    folder = Path(folder)
    first_id = _manifest_id(folder)
    try:
        return _open_index(folder, kind)
    except IndexFolderError:
        time.sleep(SWAP_RETRY_S)
        now_id = _manifest_id(folder)
        if now_id is None or now_id == first_id:
            raise  # not a swap: the folder is as it was, and it is bad
        return _open_index(folder, kind)


def _open_index(folder: Path, kind: str) -> ItemIndex:
    from annoy import AnnoyIndex

    manifest = read_index_manifest(folder)
    files = side_files(manifest, kind, folder)
    try:
        side = manifest[kind]
        dim, n, n_trees = int(manifest["dim"]), int(side["items"]), int(manifest["n_trees"])
        search_k, search = int(side["recall"]["search_k"]), side["recall"]["search"]
        metric = manifest["metric"]
    except (KeyError, TypeError, ValueError) as e:
        raise IndexFolderError(f"{folder / 'manifest.json'}: missing or bad field {e} (written "
                               f"by another version?); {REBUILD}") from e
    if n == 0:
        raise IndexFolderError(f"{folder / files['ann']['file']}: the index holds no {kind}; "
                               f"{REBUILD} from a run with {kind}")
    ann_path, vectors_path, items_path, aliases_path = (
        check_file(folder, files[role]) for role in ROLES)
    vectors = np.load(vectors_path, mmap_mode="r")
    if vectors.shape != (n, dim):
        raise IndexFolderError(f"{vectors_path}: shape {vectors.shape}, the manifest says "
                               f"({n}, {dim}); {REBUILD}")
    tables = {}
    for path in (items_path, aliases_path):
        table = read_arrow(path)
        stamp = (table.schema.metadata or {}).get(b"wikifilms.index", b"").decode()
        if stamp != manifest["id"]:
            raise IndexFolderError(f"{path}: written by index build {stamp[:8] or '?'}, the "
                                   f"manifest is build {manifest['id'][:8]}; {REBUILD}")
        tables[path] = table
    items = tables[items_path]
    if items.num_rows != n:
        raise IndexFolderError(f"{items_path}: {items.num_rows} rows, the manifest says {n}; "
                               f"{REBUILD}")
    ann = AnnoyIndex(dim, metric)
    try:
        ann.load(str(ann_path))
    except OSError as e:
        raise IndexFolderError(f"{ann_path}: Annoy cannot load it ({e}); {REBUILD}") from e
    # (Not get_n_trees(): Annoy finds the roots again on load and counts extra ones on
    # tiny indexes.)
    if ann.get_n_items() != n:
        raise IndexFolderError(f"{ann_path}: {ann.get_n_items()} items of dimension {dim}, "
                               f"the manifest says {n}; {REBUILD}")
    colink, scoring = _open_colink(folder, side.get("colink"), n)
    map_xy = None
    if side.get("map"):
        map_xy = np.load(check_file(folder, side["map"]), mmap_mode="r")
        if map_xy.shape != (n, 2):
            raise IndexFolderError(f"{folder / side['map']['file']}: shape {map_xy.shape}, the "
                                   f"manifest says ({n}, 2); {REBUILD}")
    return ItemIndex(kind=kind, ann=ann, vectors=vectors, items=items,
                     lookup=TitleLookup(tables[aliases_path], items.column("title")),
                     search_k=search_k, n_trees=n_trees, exact_by_default=search == "exact",
                     colink=colink, map_xy=map_xy, **scoring)


def _open_colink(folder: Path, entry: dict | None, n: int) -> tuple[CoLink | None, dict]:
    """The side's CoLink (checked like the other files) and its scoring settings."""
    if not entry:
        return None, {}
    try:
        paths = {role: check_file(folder, e) for role, e in entry["files"].items()}
        colink = CoLink.open(paths)
        scoring = {"vector_weight": float(entry["vector_weight"]),
                   "candidates": int(entry["candidates"])}
    except (KeyError, TypeError, ValueError) as e:
        raise IndexFolderError(f"{folder / 'manifest.json'}: bad colink entry ({e}); "
                               f"{REBUILD}") from e
    if colink.n_films != n:
        raise IndexFolderError(f"{paths['film_indptr']}: {colink.n_films} films, the manifest "
                               f"says {n}; {REBUILD}")
    return colink, scoring



def verify_index(folder: str | Path) -> list[tuple[Path, dict, str | None]]:
    """Hash every file of the index folder against its manifest (whatever was verified
    before): (path, its manifest entry, None when it matches, else what is wrong), every
    file listed, damaged or not; IndexFolderError only when the manifest itself is bad."""
    folder = Path(folder)
    manifest = read_index_manifest(folder)
    entries = []
    for kind in KINDS:
        entries += list(side_files(manifest, kind, folder).values())
        entries += list(((manifest[kind].get("colink") or {}).get("files") or {}).values())
        entries += [manifest[kind]["map"]] if manifest[kind].get("map") else []
    for model in ("ranking", "rating"):
        entries += list(((manifest.get(model) or {}).get("files") or {}).values())
    report = []
    for entry in entries:
        try:
            report.append((check_file(folder, entry, force=True), entry, None))
        except IndexFolderError as e:
            problem = str(e).removeprefix(f"{folder / entry['file']}: ").split(";")[0]
            report.append((folder / entry["file"], entry, problem))
    return report


def open_ranking(folder: str | Path):
    """The ranking model of an index folder (index.ranking), every file checked first;
    IndexFolderError when the index was built without one."""
    from index.ranking import open_ranking as open_files

    return _open_model(Path(folder), "ranking", open_files)


def open_rating(folder: str | Path):
    """The rating model of an index folder (index.rating), likewise."""
    from index.rating import open_rating as open_files

    return _open_model(Path(folder), "rating", open_files)


def _open_model(folder: Path, model: str, open_files):
    manifest = read_index_manifest(folder)
    entry = manifest.get(model)
    if not entry:
        raise IndexFolderError(f"{folder} holds no {model} model: build it with `python -m "
                               f"index build --run RUN_DIR --{model}-run {model.upper()}_DIR "
                               "--out INDEX_DIR`")
    try:
        return open_files(folder, entry)
    except IndexFolderError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise IndexFolderError(f"{folder / 'manifest.json'}: bad {model} entry ({e}); "
                               f"{REBUILD}") from e
