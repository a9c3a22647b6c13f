"""The project's one error family: every condition the code knows about is a WikifilmsError.

Standard library only. Each stage's errors derive from `WikifilmsError` (and from the builtin
they are, ValueError, LookupError, OSError ...), carry the exit status their command ends
with, and hold a message of one line that says what is wrong and what to do. Each entry
point catches the base once (`conf.cli.run_main`) and prints that line: no traceback reaches
a user for a condition the code knows about.
"""

from __future__ import annotations

# Exit statuses: a usage error or a bad input, folder or setting; a title, user or film that
# is not there (the query's "not found").
BAD_INPUT, NOT_FOUND = 2, 1


class WikifilmsError(Exception):
    """A condition the code knows about; `exit_status` is what its command exits with."""

    exit_status = BAD_INPUT


class NotThereError(WikifilmsError):
    """What was asked for is not there (a title, a user): exit status 1, not 2."""

    exit_status = NOT_FOUND
