"""The index's answers as rows of plain values: what `index query --json` prints, one row a
line, and what `index serve` returns, so that the two cannot drift apart.

A title that names nothing, or several things, raises NotFound with the message to show and
the suggestions or candidates; a user or film the ratings lack raises index.ranking's
NotInRatings. The caller decides how to say it (stderr and an exit status, or an HTTP
status).
"""

from __future__ import annotations

import numpy as np

from conf.errors import NotThereError
from index.folder import ItemIndex
from index.query import nearest


class NotFound(NotThereError, LookupError):
    """A title that names no item (`suggestions`: close titles) or several (`candidates`)."""

    def __init__(self, message: str, suggestions: list[str] | None = None,
                 candidates: list[dict] | None = None):
        super().__init__(message)
        self.suggestions = suggestions or []
        self.candidates = candidates or []


def facts(side: ItemIndex, i: int) -> dict:
    """Item `i`'s row of the index: id, title and facts (year, director / film_count)."""
    row = side.items.slice(i, 1).to_pylist()[0]
    own_id = "film_id" if side.kind == "films" else "link_id"
    return {"id": i, "title": row["title"],
            **{c: v for c, v in row.items() if c not in ("title", own_id)}}


def describe(side: ItemIndex, i: int) -> str:
    """"Title (year, director)": enough to tell candidates apart."""
    row = facts(side, i)
    extra = [str(row[c]) for c in ("year", "director") if row.get(c)]
    return row["title"] + (f" ({', '.join(extra)})" if extra else "")


def resolve(side: ItemIndex, title: str, where: str) -> tuple[int, str | None]:
    """(id, note) of a typed title on one side of the index (index.lookup: redirects,
    accents, qualifiers); the note says how a title other than the exact one was matched.
    NotFound when it names nothing or several items; `where` names the index in the message.
    """
    kind = side.kind
    found = side.lookup.resolve(title)
    if found.ambiguous:
        listed = "; ".join(describe(side, i) for i in found.candidates[:10])
        raise NotFound(f"{title!r} may be any of {len(found.candidates)} {kind}: {listed}. "
                       "Give the full title.",
                       candidates=[facts(side, i) for i in found.candidates[:10]])
    if found.id is None:
        hint = (f"; did you mean: {'; '.join(found.suggestions)}?" if found.suggestions else "")
        raise NotFound(f"no {kind[:-1]} titled {title!r} in {where}{hint}",
                       suggestions=found.suggestions)
    note = f"{title!r} -> {side.title(found.id)!r} ({found.how})" if found.how != "title" else None
    return found.id, note


def suggestions(side: ItemIndex, text: str, limit: int) -> dict:
    """What a search box offers for `text`: `match` (the item the CLI's lookup finds:
    redirects, accents, qualifiers; None) and `suggestions` (item rows): that match, the
    candidates of an ambiguous name, titles starting with the text (shortest first), then
    for a misspelling the CLI's "did you mean" (rapidfuzz)."""
    lookup = side.lookup
    found = lookup.resolve(text, suggestions=0)
    ids = [found.id] if found.id is not None else []
    ids += found.candidates + lookup.starting_with(text, limit)
    if len(set(ids)) < limit and found.id is None:
        ids += lookup.suggest_ids(text, limit)
    rows = [facts(side, i) for i in list(dict.fromkeys(ids))[:limit]]
    match = {**rows[0], "how": found.how} if found.id is not None else None
    return {"match": match, "suggestions": rows}


def similar(side: ItemIndex, ids: list[int], k: int, *, exact: bool | None = None,
            search_k: int | None = None) -> list[dict]:
    """The `k` items most like the items `ids` (all of them liked), best first: rank, id,
    title, similarity and the item's facts (with the two cosines where links re-rank)."""
    return [{"rank": n.rank, "id": n.id, "title": n.title,
             "similarity": round(n.similarity, 6), **n.facts}
            for n in nearest(side, ids, k, exact=exact, search_k=search_k)]


def reasons(films: ItemIndex, links: ItemIndex, liked: list[int], film: int,
            top: int = 5) -> list[dict]:
    """Why `film` is like the films `liked`: the links they share that weigh most, each with
    its share of the link cosine (log(1 + count) x idf weights, index.colink: a rare link
    such as a director weighs more than a country). Empty without the films' link vectors."""
    if films.colink is None:
        return []
    links_liked, weights_liked = films.colink.query_row(liked)
    own, own_weights = films.colink.film_row(film)
    shared, at_liked, at_own = np.intersect1d(links_liked, own, assume_unique=True,
                                              return_indices=True)
    share = weights_liked[at_liked] * own_weights[at_own]
    best = np.argsort(-share, kind="stable")[:top]
    return [{"link_id": int(shared[j]), "title": links.title(int(shared[j])),
             "weight": round(float(share[j]), 6)} for j in best if share[j] > 0]


def liked(films: ItemIndex, links: ItemIndex, ids: list[int], k: int,
          top_reasons: int = 5) -> dict:
    """Films for someone who liked the films `ids` (one: films like it): `neighbours` (the
    rows of `similar`) and `reasons` (film id as a string -> `reasons`)."""
    rows = similar(films, ids, k)
    return {"neighbours": rows,
            "reasons": {str(row["id"]): reasons(films, links, ids, row["id"], top_reasons)
                        for row in rows}}


def ranked(model, answers: list[tuple[int, float]]) -> list[dict]:
    """Rows of a ranking model's (item, score) answers: rank, the item's facts, score."""
    return [{"rank": r, **model.describe(i), "score": round(score, 6)}
            for r, (i, score) in enumerate(answers, 1)]


def predicted(rating, vector: np.ndarray, items: list[int]) -> list[dict]:
    """Rows of the stars the rating model predicts for `items` given a user's vector."""
    stars = rating.predict(vector, items)
    return [{**rating.describe(i), "predicted": round(float(s), 3)}
            for i, s in zip(items, stars, strict=True)]


def ratings_item(model, films: ItemIndex, title: str, where: str) -> int:
    """The ratings' item of a title: through the films' lookup (redirects, accents,
    qualifiers), else the catalogue's own title. NotInRatings for a film nobody rated,
    NotFound for a title that names no film."""
    from index.ranking import NotInRatings

    by_catalogue = model.items_titled(title)
    found = films.lookup.resolve(title)
    if found.id is not None and not found.ambiguous:
        items = model.items_of_film(found.id)
        if items:
            return items[0]
        if not by_catalogue:
            raise NotInRatings(f"{films.title(found.id)!r} is not among the rated films "
                               "(no item of the ratings is linked to it)")
    if by_catalogue:
        return by_catalogue[0]
    resolve(films, title, where)  # raises NotFound: not found, or ambiguous
    raise AssertionError("unreachable: the lookup found no single film")


def ratings_items(model, films: ItemIndex, titles_stars: list[tuple[str, float | None]],
                  where: str) -> dict[int, float | None]:
    """{item: stars} of (title, stars) pairs through ratings_item. Stars outside the ratings'
    scale, or a film given stars twice (by one title or two: "Alien" and "Alien (film)"),
    are a RankingError (a usage error): which of two ratings is meant cannot be guessed."""
    from index.ranking import RankingError

    items: dict[int, float | None] = {}
    titles: dict[int, str] = {}
    for title, stars in titles_stars:
        if stars is not None:
            model.check_stars(title, stars)
        item = ratings_item(model, films, title, where)
        if stars is not None and item in items:
            same = "given twice" if titles[item] == title else f"the same film as {titles[item]!r}"
            raise RankingError(f"{title!r} is {same}: rate each film once")
        items[item], titles[item] = stars, title
    return items
