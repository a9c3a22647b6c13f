import bz2
from collections import Counter

import pytest

from bench.parse import read_by_tree
from conf import load_config
from sample_dump.dump import page_xml
from sample_dump.pages import plan_pages
from sample_dump.world import World
from spark_jobs import wikitext
from spark_jobs.wikitext import (
    FILM,
    MALFORMED_XML,
    NOT_FILM,
    PARSE_TIMEOUT,
    ParseTimeout,
    infobox_keys,
    parse_film_record,
    read_page_xml,
    time_limit,
)

KEYS = infobox_keys(["Infobox film", "Infobox movie", "Infobox Film"])

FILM_TEXT = """{{Short description|1977 film}}
<!-- a comment with [[Hidden link]] -->
{{ infobox_Film
| name = Star Wars
| image = Star_Wars_poster.jpg
| director = [[george Lucas]]
| starring = {{Plainlist|
* [[Mark Hamill]]
* [[Harrison_Ford|Ford]]
* Carrie Fisher
}}
| country = United States
| language = English<ref>{{cite web|work=[[Variety (magazine)|Variety]]}}</ref>
| released = {{Film date|df=yes|1977|5|25|[[Los Angeles]]}}
| runtime = 121 minutes
| music = ''John Williams''
}}
'''''Star Wars''''' is a [[space opera]] film by [[George Lucas#Career|Lucas]] set in a
[[Galaxy|galaxy]] with [[star Wars (franchise)|sequels]] &amp; [[AT&amp;T]].
[[File:Falcon.jpg|thumb|The [[Millennium Falcon]] in [[Tunisia]]]]
<nowiki>[[Not a link]]</nowiki> {{Main|Production of Star Wars}}
{| class="wikitable"
| [[Academy Awards]] || [[Academy Award for Best Sound|Best Sound]]
|}
[[Category:1977 films]]
[[Category:American_space_opera_films]]
[[:Category:Lucasfilm films]]
[[fr:La Guerre des étoiles]]
[[Special:BookSources/123]]
[[{{{1}}}]]
"""


def record(text: str, title: str = "Star Wars", page_id: int = 42, ns: int = 0) -> str:
    """A record as Spark hands it over: the page XML without its closing </page>."""
    return page_xml(title, ns, page_id, text).rsplit("</page>", 1)[0]


def test_film_page_links_are_exact():
    page = parse_film_record(record(FILM_TEXT), KEYS)
    assert page.status == FILM and page.page_id == 42 and page.title == "Star Wars"
    assert dict(page.links) == {
        "George Lucas": 2,
        "Mark Hamill": 1,
        "Harrison Ford": 1,
        "Variety (magazine)": 1,
        "Los Angeles": 1,
        "Space opera": 1,
        "Galaxy": 1,
        "Star Wars (franchise)": 1,
        "AT&T": 1,
        "Millennium Falcon": 1,
        "Tunisia": 1,
        "Academy Awards": 1,
        "Academy Award for Best Sound": 1,
        "Category:1977 films": 1,
        "Category:American space opera films": 1,
        "Category:Lucasfilm films": 1,
    }


def test_film_infobox_fields():
    fields = parse_film_record(record(FILM_TEXT), KEYS).infobox
    assert fields["director"] == ["George Lucas"]
    assert fields["starring"] == ["Mark Hamill", "Harrison Ford", "Carrie Fisher"]
    assert fields["country"] == ["United States"]
    assert fields["language"] == ["English"]  # the <ref>'s link is not a language
    assert fields["year"] == 1977 and fields["runtime_min"] == 121
    assert fields["image"] == "Star Wars poster.jpg"
    # Style markup is text here (the page is tokenized with skip_style_tags), not a tag whose
    # text the value would lose.
    assert fields["music"] == ["John Williams"]


def test_categories_off():
    page = parse_film_record(record(FILM_TEXT), KEYS, keep_categories=False)
    assert not [t for t in page.links if t.startswith("Category:")]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- {{Infobox film}} -->\nAn essay.",
        "Write <nowiki>{{Infobox film}}</nowiki> at the top.",
        "{{Infobox television\n| name = x\n}}",
        "{{tl|Infobox film}}",
    ],
)
def test_prefilter_false_positives_are_not_films(text):
    assert parse_film_record(record(text), KEYS).status == NOT_FILM


@pytest.mark.parametrize("name", ["Infobox film", "infobox film", "Infobox_film", " Infobox  film ",
                                  "Template:Infobox film", "Infobox movie", "Infobox Film"])
def test_infobox_name_variants_are_films(name):
    assert parse_film_record(record(f"{{{{{name}\n| director = [[X]]\n}}}}"), KEYS).status == FILM


def test_malformed_xml_is_a_status_not_an_exception():
    bad = "<page>\n<title>Broken</title><ns>0</ns><id>7</id><revision><text>{{Infobox film}} <b>"
    page = parse_film_record(bad, KEYS, fallback_title="Broken")
    assert page.status == MALFORMED_XML and page.title == "Broken" and "ParseError" in page.error


def test_pathological_nesting_is_parsed_or_reported():
    deep = "{{Infobox film\n| director = " + "{{x|" * 5000 + "[[Deep]]" + "}}" * 5000 + "\n}}"
    page = parse_film_record(record(deep), KEYS)
    assert page.status in (FILM, "parse_error")


def test_time_limit_interrupts_slow_work():
    with pytest.raises(ParseTimeout), time_limit(0.05):
        while True:
            pass


def test_parse_timeout_status(monkeypatch):
    import spark_jobs.wikitext as wt

    def slow(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(wt, "_tokenize", slow)
    assert parse_film_record(record(FILM_TEXT), KEYS, timeout_s=0.05).status == PARSE_TIMEOUT


@pytest.mark.real_dump
def test_real_article_actrius(shared_wiki):
    with bz2.open(shared_wiki / "enwiki-2016-sample-206pages.xml.bz2", "rt") as f:
        data = f.read()
    rec = next(r for r in data.split("</page>") if "<title>Actrius</title>" in r)
    page = parse_film_record(rec, KEYS)
    assert page.status == FILM and page.page_id == 330
    assert page.infobox["director"] == ["Ventura Pons"]
    assert page.infobox["starring"] == ["Núria Espert", "Rosa Maria Sardà", "Anna Lizaran",
                                        "Mercè Pons"]
    assert page.infobox["year"] == 1997 and page.infobox["runtime_min"] == 100
    assert page.links["Ventura Pons"] == 3 and "Category:1997 films" in page.links


def _as_compared(read: tuple) -> tuple[Counter, str | None]:
    links, infobox = read
    return links, None if infobox is None else str(infobox)


def _assert_scan_matches_tree(texts: dict[str, str]) -> int:
    """Asserts that the two agree on every page; returns how many pages have an infobox."""
    keys = infobox_keys(load_config("test")["ingest"]["infobox_names"])
    tree = {title: _as_compared(read_by_tree(text, keys))
            for title, text in texts.items()}
    differ = [title for title, text in texts.items()
              if _as_compared(wikitext.read_by_tokens(text, keys)) != tree[title]]
    assert differ == []
    return sum(infobox is not None for _links, infobox in tree.values())


@pytest.mark.parametrize("text", [
    "{{Infobox film|name=Outer|caption={{Infobox film|name=Inner}}}} [[A]]",  # tree order
    "{{Infobox film<!-- c -->|name=X}}{{ {{Infobox film}} |y}}",  # names with nodes
    "[[File:P.jpg|thumb|A [[B|b]] in [[C]] with [[D|[[E]]]]]]",  # links in link text
    "[[AT&amp;T]] [[&#91;x&#93;]] [[&#x41;B]] [[X<!-- c -->Y]] [[{{PAGENAME}}]] [[{{{1}}}]]",
    "<ref name=\"[[Q]]\">{{cite web|work=[[Variety (magazine)|''Variety'']]}}</ref>",
    "== [[Heading link]] ==\n{| class=x\n| [[Cell]] || {{small|[[S]]}}\n|}\n[http://x [[N]]]",
    "[[A|b|c]] [[A|]] [[|A]] [[ ]] [[Category:X|sort]] [[:fr:Y]] <nowiki>[[No]]</nowiki>",
    "{{Infobox film|a=[[L|{{x|[[M]]}}]]|b={{{p|[[Default]]}}}}} [[unclosed [[Z]]",
])
def test_token_scan_matches_the_tree_on_tricky_markup(text):
    _assert_scan_matches_tree({"t": text})


def test_token_scan_matches_the_tree_on_random_markup():
    """Random, mostly unbalanced, markup: the tokenizer's fallbacks (an unclosed `[[` is text,
    a bad template becomes text ...) reach the scan as they reach the tree."""
    import random

    pieces = ["[[", "]]", "{{", "}}", "{{{", "}}}", "|", "=", "[[A]]", "[[B|b]]", "[[File:F|x",
              "{{Infobox film", "{{ infobox_Film|", "<ref>", "</ref>", "<ref name=r/>", "<!--",
              "-->", "&amp;", "&#x41;", "&#65;", "[http://x.org ", "]", "''", "'''", "\n{|",
              "\n|}", "\n|-", "\n==", "==\n", "<nowiki>", "</nowiki>", "<br/>", "\n* ",
              "Lucas", " ", "\n", "#", ":", "Category:", '<span class="a">', "</span>"]
    rng = random.Random(7)
    texts = {str(i): "".join(rng.choice(pieces) for _ in range(rng.randint(5, 80)))
             for i in range(400)}
    assert _assert_scan_matches_tree(texts) > 0


@pytest.mark.real_dump
def test_token_scan_matches_the_tree_on_real_pages(shared_wiki):
    """Links and infobox from the token scan equal those of the whole tree on real pages (long
    articles with references, tables, galleries and nested templates): every page of the
    fragments but every other one of the 206-page sample (the tree takes ~1 s a MB; the whole
    sample is checked by `python -m bench.parse`)."""
    texts = {}
    for path in sorted(shared_wiki.glob("enwiki-*.xml*")):
        data = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
        records = [r for r in data.decode("utf-8").split("</page>") if "<page>" in r]
        for i, rec in enumerate(records):
            page_id, title, *_, text = read_page_xml(rec)
            if len(records) < 100 or i % 2 == 0 or title == "Actrius":
                texts[f"{path.name}:{title}"] = text
    assert len(texts) == 103 + 3 + 11 + 5
    assert _assert_scan_matches_tree(texts) == 1  # Actrius


def test_token_scan_matches_the_tree_on_sample_pages():
    """... and on every page of a small generated dump: film articles written the ways editors
    write them, traps that only mention an infobox, redirects, other namespaces."""
    pages, truth = plan_pages(World(12, 5), dict(load_config("test")["sample"]))
    # The films and traps, and every 8th other page (all of them: 9 MB, ~10 s of tree).
    wanted = set(truth.films) | set(truth.traps)
    texts = {f"{p.ns}:{p.title}": p.text for i, p in enumerate(pages)
             if p.title in wanted or i % 8 == 0}
    texts["the unit test's page"] = FILM_TEXT
    assert _assert_scan_matches_tree(texts) >= len(truth.films)
