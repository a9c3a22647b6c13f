"""A synthetic film world and the wikitext of its pages, for realistic sample dumps.

The world has planted structure that trained embeddings can be judged against: franchises
(films sharing a franchise page, characters, cast and crew), genres (each with its own topic
pages), eras (decade-specific pages), countries and languages, and shared people. Links are
heavy-tailed: a few general pages ("Rotten Tomatoes", "United States") are on most films.

Every film page is written the ways editors write them (infobox name variants, Plainlists,
references with templates, tables, files with captions holding links, interlanguage links,
categories, piped and sectioned links, underscores, lower-case first letters, entities), and
the renderer records the canonical target of every link it writes: that is the planted truth
the parser is checked against.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np

_SYLLABLES = (
    "ka ri to na mo la ve sa lin dor mar tes vel qua zen bo ru fi ga len hal ber cor dan "
    "el fa gor ith jo kel lum mir nor os pel rad sil tor ul var wen yar zor an bel cas "
    "dre fen gil hol ist jar kor lor mel nis or pra ril sten tam ur vin wil"
).split()
_COMMON = (
    "the of and in a to was is for on as with by that his her it from at an which film "
    "were be are this also he she after their they had has its first two new into one "
    "during when who but not more than later where other been while about over years "
    "between would most time been only both under such these through then some all"
).split()
_ADJECTIVES = (
    "Crimson Silent Last Hidden Broken Golden Midnight Iron Distant Burning Frozen Secret "
    "Savage Electric Lonely Wild Dark Bright Fallen Endless Final Lost Scarlet Hollow Velvet "
    "Steel Quiet Restless Wicked Glass Black White Blue Red Green Shadow Northern Southern"
).split()
_NOUNS = (
    "Harbor Kingdom River Night Empire Garden Mirror Horizon Station Frontier Storm Witness "
    "Valley Machine Promise Circle Signal Journey Legacy Tower Island Desert Letter Crossing "
    "Orchard Voyage Passage Summer Winter Highway Carnival Lantern Fortress Hunter Tide"
).split()
GENRES = (
    ("Science fiction film", "science fiction", "Space exploration"),
    ("Western (genre)", "Western", "American frontier"),
    ("Horror film", "horror", "Supernatural"),
    ("Romantic comedy", "romantic comedy", "Courtship"),
    ("Crime film", "crime", "Organized crime"),
    ("War film", "war", "Military history"),
    ("Animated film", "animated", "Animation"),
    ("Musical film", "musical", "Musical theatre"),
    ("Thriller film", "thriller", "Suspense"),
    ("Drama (film and television)", "drama", "Family"),
)
COUNTRIES = (
    ("United States", "American", "English"),
    ("United Kingdom", "British", "English"),
    ("France", "French", "French"),
    ("Italy", "Italian", "Italian"),
    ("Japan", "Japanese", "Japanese"),
    ("India", "Indian", "Hindi"),
    ("Germany", "German", "German"),
    ("Spain", "Spanish", "Spanish"),
)
# Pages on a large share of film articles (heavy tail of document frequency).
GENERAL_LINKS = (
    "Rotten Tomatoes", "Variety (magazine)", "Metacritic", "Box Office Mojo", "The New York Times",
    "Los Angeles Times", "The Hollywood Reporter", "Academy Awards", "Film director",
    "Screenplay", "Box office", "Cinematography", "Film editing", "Roger Ebert",
    "Empire (magazine)", "Golden Globe Awards", "DVD", "Blu-ray", "Home video", "Film score",
    "Principal photography", "Theatrical release", "Film festival", "Sequel", "Remake",
    "Soundtrack album", "AT&T",
)
# Awards ("Academy Award for Best Director"): links on a middling share of film articles,
# in their accolades tables.
_AWARD_BODIES = ("Academy", "Golden Globe", "BAFTA", "Saturn", "Critics' Choice Movie",
                 "Independent Spirit", "Screen Actors Guild")
_AWARD_CATEGORIES = ("Picture", "Director", "Actor", "Actress", "Supporting Actor",
                     "Original Screenplay", "Cinematography", "Original Score", "Film Editing")
# Infobox name as editors write it: (text, is this really a film infobox?)
INFOBOX_VARIANTS = (
    "Infobox film", "Infobox film", "Infobox film", "Infobox film", "infobox film",
    "Infobox_film", " Infobox film", "Infobox  film", "Infobox movie", "Template:Infobox film",
    "Infobox Film",
)


def _zipf_cum_weights(n: int) -> list[float]:
    """Cumulative weights for random.choices: popularity falling with rank (Zipf, s=1.05)."""
    return list(itertools.accumulate(1.0 / (rank + 10) ** 1.05 for rank in range(n)))


def _decade(year: int) -> int:
    return year // 10 * 10


@dataclass
class Film:
    title: str
    year: int
    genres: list[str]
    country: int
    director: str
    cast: list[str]
    composer: str
    franchise: int | None = None
    position: int = 0
    aliases: list[str] = field(default_factory=list)


@dataclass
class Franchise:
    name: str
    characters: list[str]
    films: list[int] = field(default_factory=list)


class TextStream:
    """Endless varied prose from a Zipf vocabulary, made in numpy chunks (fast, and not
    repetitive, so bzip2 compresses it about as much as real articles)."""

    def __init__(self, rng: np.random.Generator, vocabulary: list[str]) -> None:
        self._rng = rng
        self._words = np.array(vocabulary, dtype=object)
        ranks = np.arange(1, len(vocabulary) + 1)
        weights = 1.0 / ranks**1.07
        self._cdf = np.cumsum(weights / weights.sum())
        self._buffer = ""
        self._pos = 0

    def _refill(self) -> None:
        n = 200_000
        idx = np.searchsorted(self._cdf, self._rng.random(n))
        words = self._words[np.minimum(idx, len(self._words) - 1)]
        ends = self._rng.random(n) < 0.07
        words = np.where(ends, words + ".", words)
        self._buffer = " ".join(words.tolist())
        self._pos = 0

    def take(self, chars: int) -> str:
        if self._pos + chars > len(self._buffer):
            self._refill()
        start = self._buffer.find(" ", self._pos) + 1
        end = self._buffer.find(" ", start + chars)
        if end < 0:
            end = len(self._buffer)
        self._pos = end
        text = self._buffer[start:end]
        return text[:1].upper() + text[1:]


class World:
    """People, genres, franchises and films, all drawn from one seed."""

    def __init__(self, n_films: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        rng = self.rng
        self.words = self._make_words(4000)
        self.text = TextStream(self.np_rng, _COMMON + self.words)
        self._used_titles: set[str] = set()
        n_people = max(60, n_films * 2)
        self.people = [self._unique(self._person_name) for _ in range(n_people)]
        self.directors = self.people[: max(10, n_films // 4)]
        n_directors = len(self.directors)
        self.composers = self.people[n_directors : n_directors + max(8, n_films // 10)]
        self.actors = self.people[n_directors + len(self.composers) :]
        # Careers: each person works mostly in one country over a span of years, as on the
        # real Wikipedia, where an actor's films cluster by country and era. Without this,
        # casts would be random and a film's cast links unpredictable from anything else.
        self.careers = {
            p: (rng.randrange(len(COUNTRIES)), (start := rng.randint(1915, 2020)),
                start + rng.randint(12, 35))
            for p in self.people
        }
        # Topic pages per genre and per decade: the planted signal beyond people.
        self.genre_topics = {
            g[0]: [g[2]] + [self._unique(lambda g=g: self._phrase(g[1])) for _ in range(12)]
            for g in GENRES
        }
        self.decades = list(range(1930, 2030, 10))
        self.era_topics = {
            d: [f"{d}s in film"] + [self._unique(lambda: self._phrase("")) for _ in range(6)]
            for d in self.decades
        }
        self.studios = [self._unique(lambda: f"{self._word()} Pictures") for _ in range(12)]
        self.general = list(GENERAL_LINKS) + [
            self._unique(lambda: self._phrase("")) for _ in range(300)
        ]
        # The long tail of a film article's links (places, events, works, terms): a few of
        # these on many films, most on one or two, as the ~10^6 distinct link targets of the
        # real ~150k film articles. Each belongs to a genre (a war film's battles), so that
        # the tail is topical, not noise. Only the more common ones have pages
        # (pages.plan_pages); the rest are red links, which real articles have too.
        self.tail = [self._unique(lambda: self._phrase("")) for _ in range(6 * n_films + 200)]
        self.tail_cum_weights = _zipf_cum_weights(len(self.tail))
        self.genre_tail = {g[0]: self.tail[k :: len(GENRES)] for k, g in enumerate(GENRES)}
        self.genre_tail_cum_weights = {
            genre: _zipf_cum_weights(len(pool)) for genre, pool in self.genre_tail.items()
        }
        self.awards = [f"{body} Award for Best {category}"
                       for body in _AWARD_BODIES for category in _AWARD_CATEGORIES]
        self.franchises: list[Franchise] = []
        self.films: list[Film] = []
        self._make_films(n_films)

    # --- names -------------------------------------------------------------------------
    def _make_words(self, n: int) -> list[str]:
        words: list[str] = []
        seen: set[str] = set()
        while len(words) < n:
            w = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 3)))
            if w not in seen:
                seen.add(w)
                words.append(w)
        return words

    def _word(self) -> str:
        return self.rng.choice(self.words).capitalize()

    def _person_name(self) -> str:
        return f"{self._word()} {self._word()}"

    def _phrase(self, suffix: str) -> str:
        return f"{self._word()} {suffix or self.rng.choice(self.words)}".strip()

    def _unique(self, make) -> str:
        for _ in range(1000):
            name = make()
            if name not in self._used_titles:
                self._used_titles.add(name)
                return name
        raise RuntimeError("name space exhausted")

    def _titled(self, base: str) -> str:
        """`base`, or its disambiguated form when the title is taken (as Wikipedia does)."""
        by_year = (f"{base} ({y} film)" for y in range(1930, 2030))
        for candidate in (base, f"{base} (film)", *by_year):
            if candidate not in self._used_titles:
                self._used_titles.add(candidate)
                return candidate
        return self._unique(lambda: f"{base} ({self._word()} film)")

    def _film_title(self) -> str:
        rng = self.rng
        return self._titled(rng.choice(
            [f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
             f"{rng.choice(_NOUNS)} of the {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
             self._word(), f"{rng.choice(_ADJECTIVES)} {self._word()}"]
        ))

    # --- films -------------------------------------------------------------------------
    def _active(self, people: list[str], country: int, year: int, at_least: int) -> list[str]:
        """People of `country` whose career spans `year`; the whole list when too few are."""
        active = [p for p in people if self.careers[p][0] == country
                  and self.careers[p][1] <= year <= self.careers[p][2]]
        return active if len(active) >= at_least else people

    def _make_films(self, n_films: int) -> None:
        rng = self.rng
        while len(self.films) < n_films:
            in_franchise = rng.random() < 0.3 and n_films - len(self.films) >= 2
            size = min(rng.randint(2, 5), n_films - len(self.films)) if in_franchise else 1
            genre = rng.choice(GENRES)[0]
            genres = [genre] + ([rng.choice(GENRES)[0]] if rng.random() < 0.3 else [])
            genres = list(dict.fromkeys(genres))
            country = rng.randrange(len(COUNTRIES))
            year = rng.randint(1935, 2024 - 3 * size)
            director = rng.choice(self._active(self.directors, country, year, 1))
            cast = rng.sample(self._active(self.actors, country, year, 8), k=rng.randint(4, 8))
            composer = rng.choice(self.composers)
            franchise_id = None
            if in_franchise:
                name = self._unique(lambda: f"{self._word()} (franchise)")
                chars = [self._unique(lambda: f"{self._word()} {self._word()} (character)")
                         for _ in range(3)]
                franchise_id = len(self.franchises)
                self.franchises.append(Franchise(name, chars))
            base_title = self._film_title()
            for position in range(size):
                numeral = ["", "II", "III", "IV", "V"][position]
                title = base_title if position == 0 else self._titled(
                    f"{base_title.split(' (')[0]} {numeral}"
                )
                film_cast = (cast[:3] + rng.sample(self._active(self.actors, country, year, 3), k=3)
                             if position else cast)
                film = Film(
                    title=title, year=year + 3 * position, genres=genres, country=country,
                    director=(director if rng.random() < 0.7 or not position
                              else rng.choice(self.directors)),
                    cast=list(dict.fromkeys(film_cast)), composer=composer,
                    franchise=franchise_id, position=position,
                )
                if franchise_id is not None:
                    self.franchises[franchise_id].films.append(len(self.films))
                self.films.append(film)
