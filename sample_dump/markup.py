"""The markup real non-film articles carry, for the sample dump's filler pages.

Real articles are mostly templates, references and tables around the prose, which
mwparserfromhell parses an order of magnitude slower than plain prose (docs/sample-dumps.md).
A sample whose filler is prose makes any parse-everything baseline look far faster than it is
on the real dump, so filler pages get an infobox of another kind, cite templates in <ref> tags,
a wikitable, external-link templates, a navbox and categories.

Everything here draws from its own generator seeded by the page title: adding markup does
not move the world's random stream, so films, links and the planted truth stay as they were.
"""

from __future__ import annotations

import random
import zlib

_INFOBOXES = ("Infobox person", "Infobox settlement", "Infobox company", "Infobox officeholder",
              "Infobox musical artist", "Infobox book", "Infobox television")
_PUBLISHERS = ("[[Variety (magazine)|Variety]]", "[[The New York Times]]", "[[BBC News]]",
               "[[The Guardian]]", "[[Los Angeles Times]]", "[[Rotten Tomatoes]]")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(1990, 2025)}"


def _words(rng: random.Random, n: int) -> str:
    syllables = ("ka", "lor", "men", "dri", "vas", "tel", "ori", "bun", "sel", "qua", "rin")
    return " ".join("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))
                    for _ in range(n)).capitalize()


def cite(rng: random.Random, links: list[str]) -> str:
    """A <ref> with a cite template, as most sentences of a real article end."""
    kind = rng.choice(("web", "news", "book", "journal"))
    fields = [f"title={_words(rng, rng.randint(3, 8))}", f"date={_date(rng)}",
              f"access-date={_date(rng)}"]
    if kind in ("web", "news"):
        fields.insert(0, f"url=https://www.example.org/{rng.randrange(10**8)}/"
                         f"{_words(rng, 2).lower().replace(' ', '-')}")
        fields.append(f"{'website' if kind == 'web' else 'work'}={rng.choice(_PUBLISHERS)}")
    else:
        fields += [f"last={_words(rng, 1)}", f"first={_words(rng, 1)}",
                   f"publisher=[[{rng.choice(links)}]]" if links else "publisher=Press",
                   f"isbn=978-{rng.randrange(10**9):09d}-{rng.randrange(10)}",
                   f"page={rng.randint(1, 400)}"]
    name = f' name="r{rng.randrange(10**4)}"' if rng.random() < 0.3 else ""
    return f"<ref{name}>{{{{cite {kind} |" + " |".join(fields) + "}}</ref>"


def infobox(rng: random.Random, title: str, links: list[str]) -> str:
    rows = [f"| name = {title}", f"| image = {_words(rng, 2).replace(' ', '_')}.jpg",
            "| caption = " + _words(rng, 4)]
    for key in ("birth_place", "location", "founder", "genre", "occupation", "country"):
        if links and rng.random() < 0.7:
            rows.append(f"| {key} = [[{rng.choice(links)}]], [[{rng.choice(links)}]]")
    rows.append(f"| birth_date = {{{{birth date and age|{rng.randint(1920, 2000)}|"
                f"{rng.randint(1, 12)}|{rng.randint(1, 28)}}}}}")
    rows.append("| years_active = {{hlist|" + "|".join(str(rng.randint(1950, 2024))
                                                      for _ in range(2)) + "}}")
    rows.append("| website = {{URL|https://www.example.org/" + str(rng.randrange(10**6)) + "}}")
    return "{{" + rng.choice(_INFOBOXES) + "\n" + "\n".join(rows) + "\n}}\n"


def wikitable(rng: random.Random, links: list[str]) -> str:
    lines = ['{| class="wikitable sortable"', f"|+ {_words(rng, 2)}",
             "! Year !! Title !! Role !! Notes"]
    for _ in range(rng.randint(3, 15)):
        target = f"[[{rng.choice(links)}]]" if links else _words(rng, 2)
        lines += ["|-", f"| {rng.randint(1950, 2024)} || ''{target}'' || {_words(rng, 2)} || "
                  + (f"{{{{small|{_words(rng, 3)}}}}}" if rng.random() < 0.4 else "")]
    return "\n".join(lines + ["|}"]) + "\n"


def dress(title: str, prose: list[str], links: list[str]) -> str:
    """An article from its prose pieces (in order, links already in them) with real markup:
    a short description and infobox first, references after sentences, sections, a table,
    external links, a navbox."""
    rng = random.Random(zlib.crc32(title.encode("utf-8")))
    head = [f"{{{{Short description|{_words(rng, 4)}}}}}", "{{Use dmy dates|date="
            + _date(rng).split(" ", 1)[1] + "}}"]
    if rng.random() < 0.8:
        head.append(infobox(rng, title, links))
    body = []
    for i, piece in enumerate(prose):
        body.append(piece)
        # Real articles cite every few sentences, often twice in a row.
        for _ in range((rng.random() < 0.9) + (rng.random() < 0.4)):
            body.append(cite(rng, links))
        if i and i % 4 == 0:
            body.append(f"\n\n== {_words(rng, 2)} ==\n")
        if rng.random() < 0.08:
            body.append("\n" + wikitable(rng, links))
    tail = ["\n\n== References ==\n{{Reflist|30em}}\n\n== External links ==",
            f"* {{{{IMDb name|{rng.randrange(10**7):07d}}}}}",
            f"* {{{{Official website|https://www.example.org/{rng.randrange(10**6)}}}}}",
            "{{Navbox\n| name = " + _words(rng, 2) + "\n| title = " + _words(rng, 3)
            + "\n| list1 = " + " • ".join(f"[[{t}]]" for t in links[:8]) + "\n}}",
            "{{Authority control}}"]
    return "\n".join(head) + "\n" + " ".join(body) + "\n".join(tail) + "\n"
