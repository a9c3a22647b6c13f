import pytest

from wikititles.titles import normalize_link, normalize_title


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Star Wars", "Star Wars"),
        ("star Wars", "Star Wars"),
        ("Star_Wars", "Star Wars"),
        ("  Star   Wars  ", "Star Wars"),
        ("Star Wars#Plot", "Star Wars"),
        ("Star\u00a0Wars", "Star Wars"),
        ("AT&amp;T", "AT&T"),
        ("Caf&eacute; Society", "Café Society"),
        (":Category:American films", "Category:American films"),
        ("Category:1999_films", "Category:1999 films"),
        ("category: science fiction films", "Category:Science fiction films"),
        ("Star Wars: Episode IV – A New Hope", "Star Wars: Episode IV – A New Hope"),
        ("ñandú", "Ñandú"),
        ("File:Poster.jpg", None),
        ("Image:Poster.jpg", None),
        ("media:Clip.ogg", None),
        ("Special:BookSources/123", None),
        ("Talk:Star Wars", None),
        ("Template:Infobox film", None),
        ("fr:La Guerre des étoiles", None),
        (":de:Krieg der Sterne", None),
        ("wikt:film", None),
        ("#Plot", None),
        ("", None),
        ("{{{1}}}", None),
    ],
)
def test_normalize_link_follows_mediawiki_rules(raw, expected):
    assert normalize_link(raw) == expected


def test_categories_can_be_switched_off():
    assert normalize_link("Category:1999 films", keep_categories=False) is None
    assert normalize_link("Star Wars", keep_categories=False) == "Star Wars"


def test_normalize_title():
    assert normalize_title("  the_matrix   reloaded ") == "The matrix reloaded"
