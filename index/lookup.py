"""From what a user types to an item id: titles, normalised titles, case-folded titles, redirects.

An alias table (one per index: films, links) has one row per way of naming an item:

    key     string   the name as stored (a title, a redirect's source, a title without its
                     trailing "(…)" qualifier)
    folded  string   `fold(key)`: case-folded, accents dropped, for forgiving matches
    id      int32    the item (row of the vectors, Annoy item id)
    via     string   "title" | "redirect" | "base"

`resolve` tries, in order: the text as typed, its MediaWiki-normalised form (wikititles.titles,
the rules the ingestion used), then the folded form. At each step a title beats a redirect
beats a base name; several items at the winning level make the query ambiguous. Nothing
found gives fuzzy suggestions (rapidfuzz).

The tables are Arrow IPC files read memory-mapped, so a query on a full-size index does not
load millions of redirect rows into Python.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wikititles.titles import normalize_link, normalize_title

VIA_ORDER = ("title", "redirect", "base")
# "Heat (1995 film)" -> "Heat": the trailing qualifier Wikipedia adds to tell pages apart.
_QUALIFIER = re.compile(r"^(?P<base>.+?) \([^()]+\)$")


def fold(text: str) -> str:
    """Case-folded, accents dropped, spaces collapsed: `fold("Amélie_ ")` == "amelie"."""
    decomposed = unicodedata.normalize("NFKD", normalize_title(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalize_query(text: str) -> str:
    """A title as MediaWiki would store it (`[[…]]` rules; falls back to title rules)."""
    return normalize_link(text) or normalize_title(text)


def base_title(title: str) -> str | None:
    match = _QUALIFIER.match(title)
    return match.group("base") if match else None


def alias_table(titles: list[str], redirects: dict[str, str] | None = None) -> pa.Table:
    """The alias rows of items named `titles` (row = id), and of redirects to them.

    `redirects` maps a redirect's source title to its final target; only targets among
    `titles` are kept. A base name is added for qualified titles ("X (2001 film)" -> "X").
    """
    keys: list[str] = []
    ids: list[int] = []
    vias: list[str] = []
    by_title = {t: i for i, t in enumerate(titles)}
    for i, title in enumerate(titles):
        keys.append(title)
        ids.append(i)
        vias.append("title")
    for source, target in (redirects or {}).items():
        i = by_title.get(target)
        if i is not None and source not in by_title:
            keys.append(source)
            ids.append(i)
            vias.append("redirect")
    for i, title in enumerate(titles):
        base = base_title(title)
        if base and base not in by_title:
            keys.append(base)
            ids.append(i)
            vias.append("base")
    return pa.table({
        "key": pa.array(keys, pa.string()),
        "folded": pa.array([fold(k) for k in keys], pa.string()),
        "id": pa.array(ids, pa.int32()),
        "via": pa.array(vias, pa.string()).dictionary_encode(),
    })


def string_array(values: list[str]) -> pa.Array:
    """An Arrow string array built from its buffers.

    Not `pa.array(values)` or `pa.scalar`: those import pandas to inspect their input, 0.3 s
    of a query's cold start (bench/index.py).
    """
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets.tobytes()),
                                  pa.py_buffer(b"".join(encoded))])


@dataclass
class Resolution:
    """What a typed title names: one id, several candidates, or nothing (with suggestions)."""

    id: int | None = None
    how: str | None = None  # "title", "normalised title", "redirect", "case-folded title", ...
    candidates: list[int] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return self.id is None and len(self.candidates) > 1


def _best_level(rows: pa.Table) -> tuple[str, list[int]] | None:
    """The highest-ranked `via` present in `rows` and its distinct ids (in id order)."""
    if rows.num_rows == 0:
        return None
    vias = rows.column("via").to_pylist()
    ids = rows.column("id").to_pylist()
    for level in VIA_ORDER:
        found = sorted({i for i, v in zip(ids, vias, strict=True) if v == level})
        if found:
            return level, found
    return None


class TitleLookup:
    """Resolves typed titles against one alias table (see the module docstring)."""

    def __init__(self, aliases: pa.Table, titles: pa.ChunkedArray | pa.Array):
        self.aliases = aliases
        self.titles = titles

    def _match(self, column: str, value: str) -> pa.Table:
        mask = pc.is_in(self.aliases.column(column), value_set=string_array([value]))
        return self.aliases.filter(mask)

    def resolve(self, text: str, suggestions: int = 5) -> Resolution:
        text = text.strip()
        result = Resolution()
        if not text:
            return result
        normalised = normalize_query(text)
        steps = (
            ("key", text, ""),
            ("key", normalised, "normalised "),
            ("folded", fold(normalised), "case-folded "),
        )
        for column, value, prefix in steps:
            level = _best_level(self._match(column, value))
            if level is None:
                continue
            via, ids = level
            if len(ids) == 1:
                result.id = ids[0]
                result.how = prefix + {"title": "title", "redirect": "redirect",
                                       "base": "title without qualifier"}[via]
            else:
                result.candidates = ids
            return result
        result.suggestions = self.suggest(text, suggestions)
        return result

    def suggest(self, text: str, limit: int = 5) -> list[str]:
        """Titles close to `text` (rapidfuzz WRatio on folded titles), best first."""
        return [self.titles[i].as_py() for i in self.suggest_ids(text, limit)]

    def suggest_ids(self, text: str, limit: int = 5) -> list[int]:
        """The ids of `suggest`."""
        from rapidfuzz import fuzz, process

        if limit < 1:
            return []
        found = process.extract(fold(text), self._folded_titles, scorer=fuzz.WRatio,
                                limit=limit, score_cutoff=60)
        return [index for _, _, index in found]

    def starting_with(self, text: str, limit: int = 10) -> list[int]:
        """Ids of the items whose folded title starts with folded `text`, shortest first
        (what a search box suggests while a title is typed)."""
        prefix = fold(text)
        if not prefix:
            return []
        titles = self.aliases.column("folded").slice(0, len(self.titles))
        ids = np.flatnonzero(pc.starts_with(titles, prefix).to_numpy(zero_copy_only=False))
        lengths = self._title_lengths[ids]
        return [int(i) for i in ids[np.lexsort((ids, lengths))[:limit]]]

    @functools.cached_property
    def _title_lengths(self) -> np.ndarray:
        return pc.utf8_length(self.aliases.column("folded").slice(0, len(self.titles))).to_numpy(
            zero_copy_only=False)

    @functools.cached_property
    def _folded_titles(self) -> list[str]:
        # Title rows come first in the alias table, row i = item i, already folded.
        return self.aliases.column("folded").slice(0, len(self.titles)).to_pylist()
