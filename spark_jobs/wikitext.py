"""Executor-side parsing of one film page: XML record -> infobox fields and wikilinks.

No Spark here: these functions run inside Python workers and are tested on plain strings.
Only pages that passed the cheap prefilter in pages.py (an `{{Infobox film` look-alike in a
namespace-0, non-redirect page) reach this module; mwparserfromhell decides whether the page
really is a film and which links it has. Its tokenizer (C) reads the whole page; its node tree,
built by a Python builder that took ~80 % of a full parse on long real articles, is built only
for the infobox. One loop over the tokens (scan_tokens) finds the links and the infobox as the
tree would, which the tests check on real and generated pages.
"""

from __future__ import annotations

import re
import signal
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from mwparserfromhell.nodes import Comment, HTMLEntity, Tag, Template, Text, Wikilink
from mwparserfromhell.parser import Builder
from mwparserfromhell.parser import tokens as tk
from mwparserfromhell.smart_list import SmartList
from mwparserfromhell.wikicode import Wikicode

from wikititles.titles import normalize_link, normalize_title, template_key, upper_first

# Page outcomes written to the manifest (pages.py adds too_large and malformed_record).
FILM = "film"
NOT_FILM = "not_film"  # the prefilter matched, the full parse found no film infobox
MALFORMED_XML = "malformed_xml"
PARSE_ERROR = "parse_error"
PARSE_TIMEOUT = "parse_timeout"

# Infobox parameters kept on the films table, as lists of names (links first, then plain text).
LIST_FIELDS = (
    "director", "producer", "writer", "starring", "music", "cinematography", "editing",
    "studio", "distributor", "country", "language",
)
# Older or newer names of the same infobox parameter.
_FIELD_ALIASES = {
    "studio": ("production companies", "production company", "production_companies"),
    "writer": ("screenplay",),
}
# Templates whose parameters are list items (`{{Plainlist|* [[A]] * [[B]]}}`, `{{ubl|A|B}}`).
_LIST_TEMPLATES = frozenset(
    {"plainlist", "plain list", "flatlist", "ubl", "unbulleted list", "hlist", "bulleted list",
     "collapsible list", "film name", "nowrap", "nobr", "small"}
)
_ITEM_SPLIT = re.compile(r"\s*(?:\n|\*|•|·|;|,|\band\b)\s*")
_YEAR = re.compile(r"\b(18[89]\d|19\d\d|20\d\d)\b")
_FIRST_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR_CATEGORY = re.compile(r"^Category:(18[89]\d|19\d\d|20\d\d) films$")


@dataclass
class FilmPage:
    """What the parse of one prefiltered page yields; `status` says whether it is a film."""

    page_id: int | None
    title: str | None
    status: str
    error: str | None = None
    links: Counter[str] = field(default_factory=Counter)
    infobox: dict[str, object] = field(default_factory=dict)


class ParseTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise ParseTimeout if the block runs longer than `seconds` (main thread only: SIGALRM)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise ParseTimeout(f"parse took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def infobox_keys(names: Iterable[str]) -> frozenset[str]:
    return frozenset(template_key(n) for n in names)


def read_page_xml(record: str) -> tuple[int, str, int, bool, str]:
    """Parse one `<page>` record (text up to, not including, `</page>`).

    Returns (page_id, title, ns, is_redirect, wikitext); raises ET.ParseError or ValueError.
    """
    start = record.find("<page>")
    if start < 0:
        raise ValueError("no <page> element in record")
    page = ET.fromstring(record[start:] + "</page>")
    title = page.findtext("title")
    ns = page.findtext("ns")
    page_id = page.findtext("id")
    if title is None or ns is None or page_id is None:
        raise ValueError("page lacks <title>, <ns> or <id>")
    text = page.findtext("revision/text") or ""
    return int(page_id), title, int(ns), page.find("redirect") is not None, text


def _tokenize(text: str) -> list:
    """mwparserfromhell's tokens for `text` (its C tokenizer when built, as `parse` uses)."""
    from mwparserfromhell.parser import CTokenizer, use_c

    if use_c and CTokenizer is not None:
        return CTokenizer().tokenize(text, 0, True)
    from mwparserfromhell.parser.tokenizer import Tokenizer

    return Tokenizer().tokenize(text, 0, True)


# Tokens that open and close a node; everything between belongs to that node (the builder
# nests them the same way). Tag tokens between TagOpenOpen and its close (TagAttrStart,
# TagCloseOpen, TagOpenClose) and the separators mark parts of the open node.
_OPENERS = frozenset({tk.TemplateOpen, tk.ArgumentOpen, tk.WikilinkOpen, tk.ExternalLinkOpen,
                      tk.HTMLEntityStart, tk.HeadingStart, tk.CommentStart, tk.TagOpenOpen})
_CLOSERS = frozenset({tk.TemplateClose, tk.ArgumentClose, tk.WikilinkClose,
                      tk.ExternalLinkClose, tk.HTMLEntityEnd, tk.HeadingEnd, tk.CommentEnd,
                      tk.TagCloseClose, tk.TagCloseSelfclose})
_ENTITY_PARTS = frozenset({tk.HTMLEntityStart, tk.HTMLEntityNumeric, tk.HTMLEntityHex,
                           tk.HTMLEntityEnd})


def _plain_text(tokens) -> str | None:
    """The text of a node list made only of text, HTML entities (kept encoded, as str() of the
    node) and comments (dropped); None when it holds anything else (a template, a tag ...)."""
    parts: list[str] = []
    in_comment = False
    entity: list[str] | None = None  # an entity's prefix while inside one: "&" or "&#" ...
    for token in tokens:
        kind = type(token)
        if kind is tk.Text:
            if entity is not None:
                entity.append(token.text)
            elif not in_comment:
                parts.append(token.text)
        elif kind is tk.CommentStart or kind is tk.CommentEnd:
            in_comment = kind is tk.CommentStart
        elif kind in _ENTITY_PARTS:
            if kind is tk.HTMLEntityStart:
                entity = ["&"]
            elif kind is tk.HTMLEntityNumeric:
                entity.append("#")
            elif kind is tk.HTMLEntityHex:
                entity.append(token.char)
            else:
                parts.append("".join(entity) + ";")
                entity = None
        else:
            return None
    return "".join(parts)


def _template_name(tokens) -> str:
    """A template name as `"".join(str(n) for n in name.nodes if not Comment)`."""
    text = _plain_text(tokens)
    if text is not None:
        return text
    return "".join(str(n) for n in Builder().build(list(tokens)).nodes
                   if not isinstance(n, Comment))


@dataclass
class PageTokens:
    """One pass over a page's tokens: where its wikilinks' titles and its infobox are."""

    tokens: list
    link_titles: list[tuple[int, int]]  # token ranges [start, end) of every wikilink's title
    infobox: tuple[int, int] | None  # token range of the first infobox template, pre-order


def scan_tokens(tokens: list, keys: frozenset[str]) -> PageTokens:
    """Find every wikilink's title and the first template named in `keys` in one loop.

    This stands in for building mwparserfromhell's node tree of the whole page, which took
    most of a parse (bench/README.md, "Film-page parse"): only the infobox's tree is built.
    It follows the builder: a node spans its opening token to the matching close; a link's
    title is what comes before its first separator (the builder's title is the last part
    before a separator, and the tokenizer writes at most one); a template's name is what
    comes before its first parameter separator. tests/test_wikitext.py checks it against
    the full tree on real pages and the sample dumps.
    """
    stack: list[list] = []  # [opening token type, its index, its first separator's index]
    links: list[tuple[int, int]] = []
    found: list[tuple[int, int]] = []
    text_type = tk.Text
    for i, token in enumerate(tokens):
        kind = type(token)
        if kind is text_type:
            continue
        if kind in _OPENERS:
            stack.append([kind, i, -1])
        elif kind in _CLOSERS:
            opener, start, separator = stack.pop()
            end = separator if separator >= 0 else i
            if opener is tk.WikilinkOpen:
                links.append((start + 1, end))
            elif opener is tk.TemplateOpen and template_key(
                    _template_name(tokens[start + 1:end])) in keys:
                found.append((start, i + 1))
        elif (kind is tk.WikilinkSeparator or kind is tk.TemplateParamSeparator) and (
                stack[-1][2] < 0):
            stack[-1][2] = i
    # Templates close innermost first; the tree's filter meets them in opening order.
    return PageTokens(tokens, links, min(found) if found else None)


def infobox_template(page: PageTokens) -> Template | None:
    """The infobox as a Template node (built from its tokens alone), or None."""
    if page.infobox is None:
        return None
    start, end = page.infobox
    return Builder().build(page.tokens[start:end]).nodes[0]


def extract_links(page: PageTokens, keep_categories: bool = True) -> Counter[str]:
    """Normalised link targets of a page and how often each occurs (links in captions,
    references and templates included; comments and <nowiki> excluded by the tokenizer).
    A title that is not plain text (`[[{{PAGENAME}}]]`, `[[{{{1}}}]]`) is template residue,
    not a page. HTML entities stay encoded here; normalize_link decodes them."""
    counts: Counter[str] = Counter()
    for start, end in page.link_titles:
        raw = _plain_text(page.tokens[start:end])
        if raw is None:
            continue
        target = normalize_link(raw, keep_categories=keep_categories)
        if target is not None:
            counts[target] += 1
    return counts


def read_by_tokens(text: str, keys: frozenset[str],
                   keep_categories: bool = True) -> tuple[Counter[str], Template | None]:
    """A page's links and infobox as the job finds them (tokens, one scan, infobox tree)."""
    page = scan_tokens(_tokenize(text), keys)
    return extract_links(page, keep_categories), infobox_template(page)


def link_target(link: Wikilink) -> str | None:
    """The title of a Wikilink node, as _plain_text gives a title from its tokens."""
    title = link.title
    if any(not isinstance(n, (Text, HTMLEntity, Comment)) for n in title.nodes):
        return None  # template residue, not a page
    return "".join(str(n) for n in title.nodes if not isinstance(n, Comment))


def _value_text(code) -> str:
    """Plain text of an infobox value with links and list templates broken into lines."""
    parts: list[str] = []
    for node in code.nodes:
        if isinstance(node, Text):
            parts.append(str(node))
        elif isinstance(node, Wikilink):
            parts.append("\n")
        elif isinstance(node, Template):
            if template_key(str(node.name)).lower() in _LIST_TEMPLATES:
                for param in node.params:
                    if not param.showkey:
                        parts.append("\n" + _value_text(param.value))
        elif isinstance(node, Tag) and str(node.tag).lower() == "br":
            parts.append("\n")
    return "".join(parts)


def _without_refs(code) -> Wikicode:
    """The value's nodes without its <ref>s and comments (their links are not the value), as
    a new Wikicode over the same nodes (not to be modified): re-parsing the value's text
    cost a quarter of a sample film page's parse."""
    return Wikicode(SmartList([
        node for node in code.nodes
        if not isinstance(node, Comment)
        and not (isinstance(node, Tag) and str(node.tag).lower() == "ref")
    ]))


def _list_value(code) -> list[str]:
    code = _without_refs(code)
    items: list[str] = []
    for link in code.filter_wikilinks(recursive=True):
        raw = link_target(link)
        target = normalize_link(raw, keep_categories=False) if raw else None
        if target and target not in items:
            items.append(target)
    for piece in _ITEM_SPLIT.split(_value_text(code)):
        piece = normalize_title(piece.strip(" \t'\"()[]{}:.-–"))
        if 1 < len(piece) <= 100 and not piece.isdigit() and piece not in items:
            items.append(piece)
    return items


def _year(infobox, links: Counter[str]) -> int | None:
    if infobox.has("released"):
        value = _without_refs(infobox.get("released").value)
        for template in value.filter_templates(recursive=True):
            if template_key(str(template.name)).lower() in {"film date", "start date"}:
                positional = [str(p.value).strip() for p in template.params if not p.showkey]
                if positional and _YEAR.fullmatch(positional[0]):
                    return int(positional[0])
        match = _YEAR.search(value.strip_code())
        if match:
            return int(match.group(1))
    years = sorted(int(m.group(1)) for t in links if (m := _YEAR_CATEGORY.match(t)))
    return years[0] if years else None


def _runtime_minutes(infobox) -> int | None:
    if not infobox.has("runtime"):
        return None
    match = _FIRST_NUMBER.search(str(_without_refs(infobox.get("runtime").value)))
    return round(float(match.group())) if match else None


def infobox_fields(infobox, links: Counter[str]) -> dict[str, object]:
    """The infobox fields worth keeping: image, people and places as lists, year, runtime."""
    fields: dict[str, object] = {name: [] for name in LIST_FIELDS}
    for name in LIST_FIELDS:
        for param in (name, *_FIELD_ALIASES.get(name, ())):
            if infobox.has(param):
                fields[name] = _list_value(infobox.get(param).value)
                break
    image = ""
    if infobox.has("image"):
        image = _without_refs(infobox.get("image").value).strip_code().strip()
        image = re.sub(r"^(?:file|image)\s*:\s*", "", image, flags=re.I)
        image = upper_first(image.replace("_", " "))
    fields["image"] = image or None
    fields["year"] = _year(infobox, links)
    fields["runtime_min"] = _runtime_minutes(infobox)
    return fields


def parse_film_record(
    record: str,
    keys: frozenset[str],
    keep_categories: bool = True,
    timeout_s: float = 60.0,
    fallback_title: str | None = None,
) -> FilmPage:
    """Full parse of one prefiltered page record. Never raises: failures come back as a status."""
    try:
        page_id, title, _ns, _redirect, text = read_page_xml(record)
    except (ET.ParseError, ValueError) as e:
        return FilmPage(None, fallback_title, MALFORMED_XML, f"{type(e).__name__}: {e}")
    try:
        with time_limit(timeout_s):
            page = scan_tokens(_tokenize(text), keys)
            infobox = infobox_template(page)
            if infobox is None:
                return FilmPage(page_id, title, NOT_FILM)
            links = extract_links(page, keep_categories=keep_categories)
            fields = infobox_fields(infobox, links)
    except ParseTimeout as e:
        return FilmPage(page_id, title, PARSE_TIMEOUT, str(e))
    except (RecursionError, MemoryError, Exception) as e:  # noqa: BLE001 - a bad page is data
        return FilmPage(page_id, title, PARSE_ERROR, f"{type(e).__name__}: {e}"[:500])
    return FilmPage(page_id, title, FILM, links=links, infobox=fields)
