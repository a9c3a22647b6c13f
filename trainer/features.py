"""Side features: infobox attributes per film and a type per link, as padded id matrices.

A film's vector is its own embedding plus the mean embedding of its attributes (director,
cast, decade, country, ...), so two films by the same director start close even when they
share few links. Only attribute values found on at least two films get an embedding: a value
on one film would only duplicate that film's own vector.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from trainer.tables import Tables

LINK_TYPES = ("article", "film", "category")
MAX_ATTRIBUTES_PER_FILM = 24


@dataclass
class FilmAttributes:
    """ids [n_films, width] into vocabulary; the value len(vocabulary) pads a row."""

    ids: np.ndarray
    vocabulary: list[str]

    @property
    def pad(self) -> int:
        return len(self.vocabulary)


def _values(tables: Tables, field: str) -> list[list[str]]:
    if field == "decade":
        years = tables.film_attributes.get("year") or [None] * tables.n_films
        return [[f"{(y // 10) * 10}s"] if y else [] for y in years]
    column = tables.film_attributes.get(field)
    if column is None:
        return [[] for _ in range(tables.n_films)]
    return [[v for v in (row or []) if v] for row in column]


def film_attributes(tables: Tables, fields: list[str], min_films: int = 2,
                    held_out: np.ndarray | None = None) -> FilmAttributes:
    """Attribute ids per film ("director:Name", "decade:1990s", ...), padded to one width.

    held_out: (film, link) rows kept from training. A film's attribute naming one of its
    held-out links is left out: `starring = [[X]]` would otherwise hand the model the very
    link the evaluation asks it to predict (the ingestion job resolves infobox names to the
    same final titles as links, so names and link titles compare directly).
    """
    hidden: set[tuple[int, str]] = set()
    if held_out is not None and len(held_out):
        hidden = {(int(f), tables.link_titles[int(link)]) for f, link in held_out}
    per_film: list[list[str]] = [[] for _ in range(tables.n_films)]
    for field in fields:
        for film, values in enumerate(_values(tables, field)):
            per_film[film].extend(f"{field}:{v}" for v in dict.fromkeys(values)
                                  if (film, v) not in hidden)
    counts = Counter(token for tokens in per_film for token in tokens)
    vocabulary = sorted(t for t, c in counts.items() if c >= min_films)
    index = {t: i for i, t in enumerate(vocabulary)}
    kept = [[index[t] for t in tokens if t in index][:MAX_ATTRIBUTES_PER_FILM]
            for tokens in per_film]
    width = max(1, max((len(k) for k in kept), default=1))
    ids = np.full((tables.n_films, width), len(vocabulary), dtype=np.int32)
    for film, row in enumerate(kept):
        ids[film, : len(row)] = row
    return FilmAttributes(ids=ids, vocabulary=vocabulary)


def link_types(tables: Tables) -> np.ndarray:
    """int32 [n_links]: 0 article, 1 film, 2 category (indexes LINK_TYPES)."""
    types = np.zeros(tables.n_links, dtype=np.int32)
    types[tables.link_film_id >= 0] = 1
    types[[t.startswith("Category:") for t in tables.link_titles]] = 2
    return types
