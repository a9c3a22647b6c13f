"""MediaWiki title rules: what page a `[[link]]` points at.

Runs on Spark executors: standard library only, no Spark. The rules (DESIGN.md, "Titles and
links"): HTML entities decode; `_` and space are the same; whitespace runs collapse; the first
letter is upper-cased; `#Section` is dropped; a leading `:` is dropped; `File:`, `Image:`,
`Media:`, `Special:`, talk and other non-content namespaces, interlanguage and interwiki
prefixes are not content links; `Category:` links are kept, prefixed.
"""

from __future__ import annotations

import html
import re

# Namespace names and aliases of English Wikipedia (case-insensitive), apart from Category.
# Links into these are navigation or media, not content.
NON_CONTENT_NAMESPACES = frozenset(
    name.lower()
    for name in (
        "Media", "Special", "Talk", "User", "User talk", "Wikipedia", "Wikipedia talk",
        "WP", "WT", "Project", "Project talk", "File", "File talk", "Image", "Image talk",
        "MediaWiki", "MediaWiki talk", "Template", "Template talk", "T", "Help", "Help talk",
        "H", "Category talk", "Portal", "Portal talk", "P", "Draft", "Draft talk",
        "TimedText", "TimedText talk", "Module", "Module talk", "MOS", "Book", "Book talk",
        "Education Program", "Gadget", "Gadget talk", "Gadget definition", "Topic", "Event",
        "Event talk",
    )
)
CATEGORY_NAMESPACES = frozenset({"category", "cat"})

# Interwiki prefixes (Special:Interwiki on enwiki, the common ones) and ISO 639 language
# codes used as interlanguage prefixes. A link with such a prefix leaves English Wikipedia.
INTERWIKI_PREFIXES = frozenset(
    """w wikipedia wikt wiktionary s wikisource q wikiquote b wikibooks n wikinews v
    wikiversity voy wikivoyage m meta metawikimedia mw mediawikiwiki d wikidata c commons
    species wikispecies wmf foundation phab phabricator mediazilla bugzilla f wikifunctions
    outreach incubator oldwikisource testwiki toollabs gerrit google imdbname imdbtitle
    wikia fandom arxiv doi rfc""".split()
)
LANGUAGE_CODES = frozenset(
    """aa ab ace ady af ak als alt am ami an ang anp ar arc ary arz as ast atj av avk awa ay
    az azb ba ban bar bat-smg bbc bcl be be-tarask be-x-old bg bh bi bjn blk bm bn bo bpy
    br bs bug bxr ca cbk-zam cdo ce ceb ch cho chr chy ckb co cr crh cs csb cu cv cy da dag
    de din diq dsb dty dv dz ee el eml en eo es et eu ext fa fat ff fi fiu-vro fj fo fr frp
    frr fur fy ga gag gan gcr gd gl glk gn gom gor got gpe gu guc gur guw gv ha hak haw he
    hi hif ho hr hsb ht hu hy hyw hz ia id ie ig ii ik ilo inh io is it iu ja jam jbo jv ka
    kaa kab kbd kbp kcg kg ki kj kk kl km kn ko koi kr krc ks ksh ku kv kw ky la lad lb lbe
    lez lfn lg li lij lld lmo ln lo lrc lt ltg lv mad mai map-bms mdf mg mh mhr mi min mk
    ml mn mni mnw mr mrj ms mt mus mwl my myv mzn na nah nap nds nds-nl ne new ng nia nl nn
    no nov nqo nrm nso nv ny oc olo om or os pa pag pam pap pcd pcm pdc pfl pi pih pl pms
    pnb pnt ps pt pwn qu rm rmy rn ro roa-rup roa-tara ru rue rw sa sah sat sc scn sco sd
    se sg sh shi shn si simple sk skr sl sm smn sn so sq sr srn ss st stq su sv sw szl szy
    ta tay tcy te tet tg th ti tk tl tly tn to tpi tr trv ts tt tum tw ty tyv udm ug uk ur
    uz ve vec vep vi vls vo wa war wo wuu xal xh xmf yi yo za zea zh zh-classical
    zh-min-nan zh-yue zu""".split()
)
OFFSITE_PREFIXES = INTERWIKI_PREFIXES | LANGUAGE_CODES

# Characters MediaWiki forbids in titles; a link containing one is template residue
# (`[[{{{1}}}]]`) or markup, not a page.
_ILLEGAL = re.compile(r"[<>\[\]{}|\x00-\x1f\x7f\ufffd]")
# Whitespace that MediaWiki folds into one space in titles (underscore included).
_SPACES = re.compile(r"[\s_\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_MAX_TITLE_BYTES = 255


def upper_first(text: str) -> str:
    """Upper-case the first letter as MediaWiki does (where upper-casing keeps one character)."""
    if not text:
        return text
    first = text[0].upper()
    return (first if len(first) == 1 else text[0]) + text[1:]


def normalize_title(title: str) -> str:
    """Canonical form of a page title as MediaWiki stores it (namespace prefix kept as given).

    >>> normalize_title("  star_wars   episode IV ")
    'Star wars episode IV'
    """
    title = html.unescape(title)
    title = _SPACES.sub(" ", title).strip()
    return upper_first(title)


def template_key(name: str) -> str:
    """A template name as MediaWiki resolves it: `template:infobox_film ` -> `Infobox film`."""
    name = normalize_title(name)
    if name.lower().startswith("template:"):
        name = normalize_title(name[len("template:"):])
    return name


def normalize_link(target: str, keep_categories: bool = True) -> str | None:
    """The page a `[[target|...]]` link points at, or None when it is not a content link.

    Categories come back as ``Category:Name``; everything else is a namespace-0 title.
    """
    target = html.unescape(target)
    target = target.split("#", 1)[0]
    target = _SPACES.sub(" ", target).strip()
    leading_colon = target.startswith(":")
    if leading_colon:
        target = target[1:].lstrip()
    if not target or _ILLEGAL.search(target):
        return None
    prefix, colon, rest = target.partition(":")
    if colon:
        key = prefix.strip().lower()
        if key in CATEGORY_NAMESPACES:
            name = upper_first(rest.strip())
            if not keep_categories or not name:
                return None
            target = f"Category:{name}"
        elif key in NON_CONTENT_NAMESPACES or key in OFFSITE_PREFIXES or not rest.strip():
            return None
    target = upper_first(target)
    if len(target.encode("utf-8")) > _MAX_TITLE_BYTES:
        return None
    return target


def is_category(title: str) -> bool:
    return title.startswith("Category:")
