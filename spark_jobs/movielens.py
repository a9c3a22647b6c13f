"""MovieLens as GroupLens publishes it: which files a release has, and its titles as keys.

Spark-free (the ratings job calls these on executors and tests call them directly).

Layouts (a folder, or the zip GroupLens serves, which holds one folder):
- "100k": u.data (user \\t item \\t rating \\t timestamp), u.item (id|title|release|video|url|19
  genre flags, Latin-1), u.user (id|age|gender|occupation|zip);
- "dat": 1M and 10M, ratings.dat (user::movie::rating::timestamp), movies.dat
  (id::title::genres, Latin-1), users.dat (user::gender::age::occupation::zip; 1M only);
- "csv": 20M, 25M, 32M and latest(-small), ratings.csv (userId,movieId,rating,timestamp) and
  movies.csv (movieId,title,genres; UTF-8, quoted where needed); no user attributes.

Titles: MovieLens writes "Usual Suspects, The (1995)", "Seven (Se7en) (1995)", "City of Lost
Children, The (Cité des enfants perdus, La) (1995)"; Wikipedia "The Usual Suspects", "Seven
(1995 film)", "Alien (film)". Both sides become `title_key`s (article put back in front,
accents and case folded, punctuation dropped) and are matched with the years (ratings.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# u.item's 19 genre flags, in order (u.genre).
GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")


# MovieLens' star scale: whole stars 1-5 up to 1M, half stars 0.5-5 from 10M on. A rating
# outside it (or NaN) is a damaged line, skipped and counted by the ratings job.
MOVIELENS_SCALE = (0.5, 5.0)


@dataclass(frozen=True)
class Layout:
    """The files of one release layout (names relative to its folder) and its rating scale."""

    name: str
    ratings: str
    items: str
    users: str | None
    scale: tuple[float, float] = MOVIELENS_SCALE


LAYOUTS = (
    Layout("100k", "u.data", "u.item", "u.user"),
    Layout("dat", "ratings.dat", "movies.dat", "users.dat"),
    Layout("csv", "ratings.csv", "movies.csv", None),
)

# Articles MovieLens moves to the end ("Usual Suspects, The", "Cité des enfants perdus, La").
_ARTICLES = ("The", "A", "An", "La", "Le", "Les", "L'", "Il", "Lo", "Gli", "I", "El", "Los",
             "Las", "Die", "Der", "Das", "Den", "Det", "De", "Het", "Un", "Une", "Una", "Uno")
_INVERTED = re.compile(r"^(?P<rest>.+), (?P<article>" + "|".join(map(re.escape, _ARTICLES))
                       + r")$")
_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_TRAILING_GROUP = re.compile(r"\s*\((?P<inner>[^()]*)\)\s*$")
_AKA = re.compile(r"^(?:a\.k\.a\.|aka)\s+", re.I)
# Wikipedia's disambiguation of a film title: "(film)", "(1995 film)", "(American film)",
# "(1995 American film)", "(2019 animated film)".
_FILM_QUALIFIER = re.compile(r"^(?P<base>.+?)\s*\((?:(?P<year>\d{4}) )?(?:[^()]* )?film\)$")


def deinvert(title: str) -> str:
    """'Usual Suspects, The' -> 'The Usual Suspects'; "Homme, L'" -> "L'Homme"."""
    m = _INVERTED.match(title.strip())
    if not m:
        return title.strip()
    article = m.group("article")
    return f"{article}{'' if article.endswith(chr(39)) else ' '}{m.group('rest')}"


def parse_title(raw: str) -> tuple[list[str], int | None]:
    """A MovieLens title -> (its names: the main one first, then alternatives given in
    parentheses, each with its article in front; the year or None)."""
    text = (raw or "").strip()
    year = None
    m = _YEAR.search(text)
    if m:
        year, text = int(m.group("year")), text[:m.start()]
    alternatives = []
    while (m := _TRAILING_GROUP.search(text)) and m.start() > 0:
        inner = _AKA.sub("", m.group("inner").strip())
        if inner:
            alternatives.append(deinvert(inner))
        text = text[:m.start()]
    names = [deinvert(text)] + alternatives[::-1] if text.strip() else alternatives[::-1]
    return [n for n in names if n], year


def title_key(title: str) -> str:
    """Case, accents, punctuation and '&'/'and' folded: 'Amélie' and 'amelie' meet."""
    folded = unicodedata.normalize("NFKD", title.replace("&", " and "))
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def film_title_parts(title: str) -> tuple[str, int | None]:
    """A Wikipedia film title -> (title without its film qualifier, the qualifier's year)."""
    m = _FILM_QUALIFIER.match(title.strip())
    if not m:
        return title.strip(), None
    return m.group("base").strip(), int(m.group("year")) if m.group("year") else None


def item_keys(raw_title: str) -> list[tuple[str, str]]:
    """(key, "title" | "alternative title") of a MovieLens title, distinct keys only."""
    names, _ = parse_title(raw_title)
    seen, out = set(), []
    for i, name in enumerate(names):
        key = title_key(name)
        if key and key not in seen:
            seen.add(key)
            out.append((key, "title" if i == 0 else "alternative title"))
    return out


def item_year(raw_title: str) -> int | None:
    return parse_title(raw_title)[1]
