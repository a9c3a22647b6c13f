"""What a query may ask, checked the same way for the command line and the web API.

Standard library only: `python -m index --help` and a query's start import nothing heavy
for it.
"""

from __future__ import annotations

from conf.errors import WikifilmsError

# MediaWiki's limit on a page title: a longer argument cannot name a page.
MAX_TITLE_BYTES = 255


class UsageError(WikifilmsError, ValueError):
    """An argument that cannot be a query: the CLI's exit status 2, the server's 400."""


def check_title(title: str) -> str:
    """`title` stripped, or UsageError: empty, not valid UTF-8 (argv bytes that Python kept
    as surrogates), or longer than any page title can be."""
    try:
        size = len(title.encode("utf-8"))
    except UnicodeEncodeError as e:
        shown = title.encode("utf-8", "surrogateescape")[:80]
        raise UsageError(f"the title {shown!r} is not valid UTF-8: give titles in UTF-8") from e
    if not title.strip():
        raise UsageError("an empty title: give the title of a film (or of a page with --links)")
    if size > MAX_TITLE_BYTES:
        raise UsageError(f"a title of {size} bytes ({title[:40]!r}...): page titles are at "
                         f"most {MAX_TITLE_BYTES} bytes")
    return title.strip()
