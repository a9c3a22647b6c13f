"""Amazon reviews (the 2018 release of McAuley's group) as ratings: its files and its titles.

Spark-free (the ratings job calls these on executors; tests call them directly).

A category is two gzipped JSON-lines files in one folder: the reviews, `Movies_and_TV.json.gz`
(or the 5-core `Movies_and_TV_5.json.gz`): `reviewerID`, `asin`, `overall` (1-5 stars),
`unixReviewTime`, ...; and the products, `meta_Movies_and_TV.json.gz`: `asin`, `title`,
`category` (a list), .... A line that is not JSON, or lacks a field, is counted and skipped.

Product titles carry the packaging: "Heat [Blu-ray]", "Alien (Director's Cut) (DVD)",
"The Matrix (Widescreen Edition) VHS". `film_title` strips it (trailing bracketed groups and
words that name a format or an edition), so the rest can meet a film's title; there is no year,
so an item links only where one film has that title (spark_jobs/ratings.py).
"""

from __future__ import annotations

import html
import re

META_PREFIX = "meta_"
# Amazon's stars: 1 to 5 ("overall").
SCALE = (1.0, 5.0)
SUFFIX = ".json.gz"
# A trailing group or word naming a format, an edition or the packaging.
_PACKAGING_WORDS = (
    r"blu-?ray|dvd|vhs|hd[ -]?dvd|4k|uhd|ultra hd|3d|digital|digital copy|amazon video|"
    r"region \d|ntsc|pal|widescreen|full ?screen|special edition|collector'?s edition|"
    r"director'?s cut|unrated|extended|edition|remastered|anniversary|box ?set|"
    r"includes|with|slipcover|steelbook|import|subtitled|dubbed|version|disc|cut")
_GROUP = re.compile(r"\s*[\[(]([^\[\]()]*)[\])]\s*$")
_TRAILING_FORMAT = re.compile(r"\s*[-/,:]?\s*\b(?:blu-?ray|dvd|vhs)\b\s*$", re.I)
_PACKAGING = re.compile(_PACKAGING_WORDS, re.I)
_TAGS = re.compile(r"<[^>]*>")
# Longer than any film title: what the metadata holds in `title` is then page debris.
MAX_TITLE = 200


def film_title(product_title: str | None) -> str | None:
    """The film's title in an Amazon product title, or None when it holds none
    ("Heat [Blu-ray]" -> "Heat"; "Alien (Director's Cut) (DVD)" -> "Alien")."""
    if not product_title:
        return None
    text = " ".join(html.unescape(_TAGS.sub(" ", product_title)).split())
    if not text or len(text) > MAX_TITLE:
        return None
    while True:
        m = _GROUP.search(text)
        if m and m.start() > 0 and _PACKAGING.search(m.group(1)):
            text = text[:m.start()]
            continue
        stripped = _TRAILING_FORMAT.sub("", text)
        if stripped != text and stripped:
            text = stripped
            continue
        break
    return text.strip() or None


def find_files(names: list[str]) -> tuple[str, str] | None:
    """(reviews file, products file) among a folder's file `names`: one `meta_X.json.gz`
    and one other `.json.gz` (the reviews); None when the folder holds no such pair."""
    metas = [n for n in names if n.startswith(META_PREFIX) and n.endswith(SUFFIX)]
    reviews = [n for n in names if n.endswith(SUFFIX) and not n.startswith(META_PREFIX)]
    if len(metas) == 1 and len(reviews) == 1:
        return reviews[0], metas[0]
    return None
