"""The pages of a sample dump: film articles, people, topics, traps, redirects, other namespaces.

`plan_pages` yields `Page`s in dump order and fills a `Truth` with what a correct parser must
find: the films, each film's link targets after normalisation and redirects, infobox values,
the planted franchises, genres and decades.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sample_dump.markup import dress
from sample_dump.world import COUNTRIES, GENRES, INFOBOX_VARIANTS, Film, World

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_LANGS = ("fr", "de", "es", "it", "ja", "ru", "pt", "pl", "nl", "sv")


@dataclass
class Page:
    title: str
    ns: int
    text: str
    redirect: str | None = None  # target title of a redirect page


@dataclass
class Truth:
    films: dict[str, dict] = field(default_factory=dict)  # title -> facts and links
    franchises: list[dict] = field(default_factory=list)
    traps: list[str] = field(default_factory=list)  # mention an infobox film, are not films
    redirect_loops: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)  # alias -> final target

    def to_json(self) -> dict:
        return {
            "films": self.films,
            "franchises": self.franchises,
            "traps": self.traps,
            "redirect_loops": self.redirect_loops,
            "redirects": self.redirects,
        }


class FilmArticle:
    """Writes one film article, recording the canonical target of every link written."""

    def __init__(self, world: World, rng: random.Random, aliases: dict[str, list[str]]) -> None:
        self.world = world
        self.rng = rng
        self.aliases = aliases
        self.targets: dict[str, int] = {}

    def link(self, target: str, display: str | None = None) -> str:
        """A wikilink to `target` in one of the forms editors use."""
        rng = self.rng
        self.targets[target] = self.targets.get(target, 0) + 1
        written = target
        roll = rng.random()
        if roll < 0.12 and self.aliases.get(target):
            written = rng.choice(self.aliases[target])  # through a redirect
        elif roll < 0.20 and target[:1].isalpha():
            written = target[0].lower() + target[1:]
        elif roll < 0.26:
            written = target.replace(" ", "_")
        elif roll < 0.29:
            written = f" {target.replace(' ', '  ')} "
        elif roll < 0.33:
            written = f"{target}#{rng.choice(['History', 'Plot', 'Career', 'Reception'])}"
        written = written.replace("&", "&amp;") if rng.random() < 0.5 else written
        if display is None and rng.random() < 0.15:
            display = target.split(" (")[0].lower()
        return f"[[{written}|{display}]]" if display else f"[[{written}]]"

    def plain_list(self, names: list[str]) -> str:
        if self.rng.random() < 0.5:
            return "{{Plainlist|\n" + "".join(f"* {self.link(n)}\n" for n in names) + "}}"
        return "{{ubl|" + "|".join(self.link(n) for n in names) + "}}"

    def prose(self, chars: int, links: list[str]) -> str:
        """A paragraph of `chars` characters with `links` spread through it."""
        text = self.world.text
        pieces = [text.take(max(20, chars // (len(links) + 1)))]
        for target in links:
            pieces.append(self.link(target))
            pieces.append(text.take(max(20, chars // (len(links) + 1))))
        return " ".join(pieces)

    def _extent(self, film: Film) -> tuple[list[str], list[str], list[str]]:
        """What a longer article adds: supporting cast, accolades and long-tail links.

        Real film articles hold ~50-400 links (DESIGN.md): many short ones, a long tail of
        long ones. The article's number of distinct links is drawn from a log-normal (median
        ~95); what render() writes anyway is ~50, and the rest comes from here.
        """
        w, rng = self.world, self.rng
        extra = int(min(400, max(45, rng.lognormvariate(4.55, 0.55)))) - 50
        if extra <= 0:
            return [], [], []
        country_cast = [a for a in w._active(w.actors, film.country, film.year, 1)
                        if a not in film.cast]
        supporting = rng.sample(country_cast, k=min(len(country_cast), extra // 6, 24))
        awards = rng.sample(w.awards, k=min(len(w.awards), extra // 12)) if extra >= 24 else []
        n_tail = extra - len(supporting) - len(awards)
        # A third of them on no other film (most of the real ~10^6 targets are on one or
        # two), the rest drawn from the world's long tail by popularity: two thirds of those
        # from the film's genre's part of it.
        one_off = [w._unique(lambda: w._phrase("")) for _ in range(n_tail // 3)]
        n_shared = n_tail - len(one_off)
        genre = film.genres[0]
        in_genre = rng.choices(w.genre_tail[genre], cum_weights=w.genre_tail_cum_weights[genre],
                               k=n_shared * 2 // 3)
        anywhere = rng.choices(w.tail, cum_weights=w.tail_cum_weights, k=n_shared - len(in_genre))
        tail = list(dict.fromkeys(in_genre + anywhere + one_off))
        rng.shuffle(tail)
        return supporting, awards, tail

    def render(self, film: Film, index: int) -> str:
        """The film's article. One long function for the reason plan_pages gives: the order
        of its random draws is the sample's content."""
        w, rng = self.world, self.rng
        country, adjective, language = COUNTRIES[film.country]
        genre_names = {g[0]: g[1] for g in GENRES}
        genre_word = genre_names[film.genres[0]]
        decade = film.year // 10 * 10
        producers = rng.sample(w.people, k=2)
        writer = rng.choice(w.people)
        studio = rng.choice(w.studios)
        runtime = rng.randint(75, 170)
        month = rng.randrange(12)
        topics = [t for g in film.genres for t in rng.sample(w.genre_topics[g], k=4)]
        era = rng.sample(w.era_topics[decade], k=3)
        n_general = rng.randint(8, 18)
        general = [t for i, t in enumerate(w.general)
                   if rng.random() < 0.9 / (1 + i) ** 0.55][:n_general]
        noise = rng.sample(w.general[len(w.general) // 2 :], k=4)
        franchise = w.franchises[film.franchise] if film.franchise is not None else None
        supporting, awards, tail = self._extent(film)
        # Tail links per section; each brings ~130 characters of prose, as real articles
        # have 105-185 bytes of wikitext a link (bench/README.md, "Film-page parse").
        q = [len(tail) * k // 4 for k in range(5)]
        plot_tail, production_tail, release_tail, legacy_tail = (
            tail[q[k]:q[k + 1]] for k in range(4))

        parts: list[str] = []
        if rng.random() < 0.6:
            parts.append(f"{{{{Short description|{film.year} {adjective} {genre_word} film}}}}")
        parts.append(f"{{{{Use mdy dates|date={_MONTHS[month]} 2024}}}}")
        if rng.random() < 0.2:
            parts.append("<!-- Please do not add unsourced box office figures -->")
        name = INFOBOX_VARIANTS[index % len(INFOBOX_VARIANTS)]
        country_value = self.link(country) if rng.random() < 0.3 else country
        parts.append(
            f"{{{{{name}\n| name           = {film.title.split(' (')[0]}\n"
            f"| image          = {film.title.split(' (')[0]} poster.jpg\n"
            f"| caption        = Theatrical release poster\n"
            f"| director       = {self.link(film.director)}\n"
            f"| producer       = {self.plain_list(producers)}\n"
            f"| writer         = {self.link(writer)}\n"
            f"| starring       = {self.plain_list(film.cast)}\n"
            f"| music          = {self.link(film.composer)}\n"
            f"| studio         = {self.link(studio)}\n"
            f"| released       = {{{{Film date|{film.year}|{month + 1}|{rng.randint(1, 28)}}}}}\n"
            f"| runtime        = {runtime} minutes<ref>{{{{cite web |title=Runtime "
            f"|work={self.link('Box Office Mojo')}}}}}</ref>\n"
            f"| country        = {country_value}\n"
            f"| language       = {language}\n"
            f"| budget         = ${rng.randint(1, 90)} million\n}}}}"
        )
        lead_links = [film.genres[0], film.director] + film.cast[:2]
        parts.append(
            f"'''''{film.title.split(' (')[0]}''''' is a {film.year} {adjective} "
            + self.prose(400, lead_links)
        )
        parts.append("== Plot ==\n" + self.prose(
            rng.randint(1500, 5000) + 130 * len(plot_tail), topics[:4] + era[:1] + plot_tail))
        caption_target = rng.choice(film.cast)
        parts.append(
            f"[[File:{film.title.split(' (')[0]} still.jpg|thumb|right|{self.link(caption_target)} "
            f"in a scene filmed near {self.link(era[1])}]]"
        )
        parts.append("== Cast ==\n" + "".join(f"* {self.link(a)} as {w.text.take(15)}\n"
                                               for a in film.cast + supporting))
        ref = (f"<ref name=\"v{index}\">{{{{cite news |last={w.text.take(8)} "
               f"|title={w.text.take(30)} |work={self.link('Variety (magazine)', 'Variety')} "
               f"|date={_MONTHS[month]} {film.year}}}}}</ref>")
        parts.append("== Production ==\n" + self.prose(
            rng.randint(1500, 6000) + 130 * len(production_tail),
            topics[4:] + general[:3] + production_tail) + ref)
        parts.append("<!-- [[Hidden commented link]] --> <nowiki>[[Not a link]]</nowiki>")
        if franchise is not None:
            members = [w.films[i].title for i in franchise.films if w.films[i].title != film.title]
            parts.append(
                "== Franchise ==\n"
                + self.prose(600, [franchise.name, *franchise.characters, *members])
            )
        parts.append(
            "== Release ==\n{| class=\"wikitable\"\n|-\n! Award !! Category !! Result\n|-\n"
            f"| {self.link('Academy Awards')} || {self.link(era[2])} || Nominated\n|}}\n"
            + self.prose(rng.randint(800, 3000) + 130 * len(release_tail),
                         general[3:] + noise + release_tail)
        )
        if legacy_tail:
            parts.append("== Legacy ==\n" + self.prose(130 * len(legacy_tail), legacy_tail))
        if awards:
            parts.append(
                "== Accolades ==\n{| class=\"wikitable sortable\"\n|-\n! Award !! Result\n"
                + "".join(f"|-\n| {self.link(a)} || {rng.choice(['Won', 'Nominated'])}\n"
                          for a in awards)
                + "|}"
            )
        parts.append(
            "== Reception ==\n"
            + self.prose(rng.randint(500, 2500), ["Rotten Tomatoes", "Roger Ebert"])
            + " &nbsp; {{Rotten Tomatoes prose|82|7.1|45}}"
        )
        parts.append("== References ==\n{{Reflist}}\n\n== External links ==\n* {{IMDb title|"
                     f"{1000000 + index}|{film.title}}}}}")
        categories = [f"Category:{film.year} films",
                      f"Category:{adjective} {genre_word} films",
                      f"Category:{language}-language films",
                      f"Category:Films directed by {film.director}"]
        if franchise is not None:
            categories.append(f"Category:{franchise.name.split(' (')[0]} films")
        for c in categories:
            self.targets[c] = self.targets.get(c, 0) + 1
        written_categories = [
            f"[[{c if rng.random() < 0.8 else c.replace(' ', '_')}]]" for c in categories
        ]
        langs = rng.sample(_LANGS, k=rng.randint(0, 4))
        parts.append("\n".join(written_categories + [f"[[{lang}:{film.title}]]" for lang in langs]))
        return "\n\n".join(parts) + "\n"


def _article(world: World, rng: random.Random, title: str, links: list[str]) -> str:
    size = int(min(150_000, max(800, rng.lognormvariate(8.8, 0.9))))
    per = max(40, size // (len(links) + 1))
    prose = [f"'''{title}''' " + world.text.take(per)]
    for target in links:
        prose.append(f"[[{target}]] " + world.text.take(per))
    return dress(title, prose, links)


def plan_pages(world: World, cfg: dict) -> tuple[list[Page], Truth]:
    """All pages of the sample, in dump order, and the truth about them.

    Long, and kept in one piece on purpose: every random draw happens here in a fixed order,
    and a seed's dump is compared byte for byte by tests and benchmarks; splitting it must
    not move one draw (generator version in dump.py).
    """
    rng = world.rng
    truth = Truth()
    pages: list[Page] = []
    titles_taken: set[str] = set()
    aliases: dict[str, list[str]] = {}

    def alias_of(target: str, alias: str) -> None:
        if alias != target and alias not in titles_taken:
            titles_taken.add(alias)
            aliases.setdefault(target, []).append(alias)
            truth.redirects[alias] = target

    for film in world.films:
        titles_taken.add(film.title)
        base = film.title.split(" (")[0]
        alias_of(film.title, f"{base} (movie)")
        alias_of(film.title, f"{base} ({film.year} movie)")
    for person in world.people:
        first, last = person.split(" ", 1)
        alias_of(person, f"{first[0]}. {last}")
    for target in world.general[:40]:
        alias_of(target, f"{target} (disambiguation redirect)")

    # A double redirect (alias -> alias -> film, with a #section) that some films link through.
    chain_target = world.films[-1].title
    middle = f"{chain_target.split(' (')[0]} (motion picture)"
    top = f"{chain_target.split(' (')[0]} (feature)"
    titles_taken.update((middle, top))
    pages.append(Page(middle, 0, f"#REDIRECT [[{chain_target}#Plot]]", f"{chain_target}#Plot"))
    pages.append(Page(top, 0, f"#REDIRECT [[{middle}]]", middle))
    truth.redirects[middle] = chain_target
    truth.redirects[top] = chain_target
    aliases.setdefault(chain_target, []).extend([middle, top])

    # Film articles.
    for index, film in enumerate(world.films):
        article = FilmArticle(world, rng, aliases)
        text = article.render(film, index)
        if index % 50 == 1:
            text += "\nSee also [[Looping Page A]].\n"  # a broken redirect: not in the truth
        pages.append(Page(film.title, 0, text))
        country, _, language = COUNTRIES[film.country]
        truth.films[film.title] = {
            "year": film.year, "decade": film.year // 10 * 10, "genres": film.genres,
            "country": country, "language": language, "director": film.director,
            "starring": film.cast, "franchise": film.franchise,
            "links": dict(sorted(article.targets.items())),
        }
    truth.franchises = [
        {"name": f.name, "films": [world.films[i].title for i in f.films]} for f in world.franchises
    ]

    # Articles the films link to, and filler, up to articles_per_film per film.
    linked = list(dict.fromkeys(
        world.people + world.studios + world.general
        + [t for ts in world.genre_topics.values() for t in ts]
        + [t for ts in world.era_topics.values() for t in ts]
        + [f.name for f in world.franchises] + [c for f in world.franchises for c in f.characters]
        + world.awards + world.tail[: len(world.tail) // 4]
    ))
    for title in linked:
        titles_taken.add(title)
        links = rng.sample(world.general, k=6) + rng.sample(world.people, k=3)
        pages.append(Page(title, 0, _article(world, rng, title, links)))
    n_articles = len(world.films) * (1 + cfg["articles_per_film"])
    while len(pages) < n_articles:
        title = f"{world._word()} {world._word()}"
        if title in titles_taken:
            continue
        titles_taken.add(title)
        pages.append(Page(title, 0, _article(world, rng, title, rng.sample(linked, k=8))))

    # Traps: articles that look like films to a careless parser.
    film0 = world.films[0].title
    traps = [
        ("The Wandering Serial (TV series)", "{{Infobox television\n| name = The Wandering Serial\n"
         f"| starring = [[{world.actors[0]}]]\n}}}}\n"),
        ("Infobox conventions in film articles", "<!-- {{Infobox film | name = x }} -->\n"
         "Editors write <nowiki>{{Infobox film}}</nowiki> at the top of an article. "),
        ("A Novel of the Harbor", "{{Infobox book\n| name = A Novel of the Harbor\n}}\n"
         f"It was adapted as [[{film0}]]. "),
        ("List of films about harbors", "{{Dynamic list}}\n* [[" + film0 + "]]\n"),
    ]
    for title, head in traps:
        titles_taken.add(title)
        pages.append(Page(title, 0, head + _article(world, rng, title, rng.sample(linked, k=5))))
        truth.traps.append(title)

    # Redirects: aliases, a double redirect, loops, then filler to the configured share.
    for alias, target in list(truth.redirects.items()):
        if alias in (middle, top):
            continue
        text = f"#REDIRECT [[{target}]]\n\n{{{{R from alternative name}}}}"
        pages.append(Page(alias, 0, text, target))
    loop_a, loop_b = "Looping Page A", "Looping Page B"
    pages.append(Page(loop_a, 0, f"#REDIRECT [[{loop_b}]]", loop_b))
    pages.append(Page(loop_b, 0, f"#REDIRECT [[{loop_a}]]", loop_a))
    truth.redirect_loops = [loop_a, loop_b]

    share_r, share_o = cfg["redirect_share"], cfg["other_namespace_share"]
    articles = sum(1 for p in pages if p.redirect is None)
    total = int(articles / max(0.05, 1 - share_r - share_o))
    n_redirects = int(total * share_r)
    article_titles = [p.title for p in pages if p.redirect is None]
    counter = len(pages) - len(article_titles)  # redirects so far
    while counter < n_redirects:
        counter += 1
        target = rng.choice(article_titles)
        alias = f"{target} ({rng.choice(world.words)} {counter})"
        pages.append(Page(alias, 0, f"#REDIRECT [[{target}]]", target))

    # Other namespaces: talk, user, project, file, template, category, portal.
    n_other = int(total * share_o)
    template_doc = ("{{Documentation}}\n"
                    "<includeonly>{{Infobox\n| above = {{{name|}}}\n}}</includeonly>"
                    "\n<noinclude>Usage: {{Infobox film\n| name = \n| director = \n}}</noinclude>")
    pages.append(Page("Template:Infobox film", 10, template_doc))
    pages.append(Page("Category:Films", 14, "Films by year. [[Category:Works by medium]]"))
    for i in range(n_other):
        film = world.films[i % len(world.films)]
        kind = i % 6
        if kind == 0:
            pages.append(Page(f"Talk:{film.title}", 1, "{{WikiProject Film}}\n== Infobox ==\n"
                              "Should the {{Infobox film}} list the composer? ~~~~\n"))
        elif kind == 1:
            pages.append(Page(f"User:{world.people[i % len(world.people)]}/sandbox {i}", 2,
                              "{{Infobox film\n| name = Draft\n}}\n" + world.text.take(500)))
        elif kind == 2:
            pages.append(Page(f"Wikipedia:Film project/Archive {i}", 4, world.text.take(2000)))
        elif kind == 3:
            pages.append(Page(f"File:{film.title.split(' (')[0]} poster {i}.jpg", 6,
                              "== Summary ==\n{{Non-free use rationale poster}}\n"))
        elif kind == 4:
            pages.append(Page(f"Category:{film.year} films", 14, f"Films released in {film.year}."))
        else:
            pages.append(Page(f"Portal:Film/Selected article/{i}", 100, world.text.take(800)))

    # Real dumps interleave everything (page ids follow creation, not kind).
    order = list(range(len(pages)))
    rng.shuffle(order)
    seen: set[tuple[int, str]] = set()
    unique_pages = []
    for i in order:
        key = (pages[i].ns, pages[i].title)
        if key not in seen:
            seen.add(key)
            unique_pages.append(pages[i])
    return unique_pages, truth
