"""The queries `make demo` ends with, chosen from the sample dump's planted truth.

    python scripts/demo_queries.py --index data/demo/index --truth data/demo/dump/…-truth.json

The sample's titles are generated, so the demo cannot name them in the Makefile: this picks
a film of the largest franchise, one of its redirects, its director, three films of one
genre and a misspelling, and runs each query through the real CLI, printing the command
first so a newcomer can copy it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def show(index: str, *args: str) -> int:
    command = [sys.executable, "-m", "index", "query", "--index", index, *args]
    print("\n$ python -m index query --index " + index + " "
          + " ".join(shlex.quote(a) for a in args), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--truth", required=True)
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    films = truth["films"]
    franchise = max(truth["franchises"], key=lambda f: len(f["films"]))
    film = franchise["films"][0]
    redirect = next((source for source, target in truth["redirects"].items()
                     if target == film), None)
    genre = films[film]["genres"][0]
    same_genre = [t for t, f in films.items() if genre in f["genres"] and t not in
                  franchise["films"]][:3]

    failures = 0
    failures += show(args.index, film, "-k", "8") != 0
    if redirect:
        failures += show(args.index, redirect, "-k", "3") != 0
    failures += show(args.index, "--links", films[film]["director"], "-k", "5") != 0
    failures += show(args.index, *same_genre, "-k", "5") != 0
    failures += show(args.index, "--json", film, "-k", "3") != 0
    # A misspelling: the command exits 1 with suggestions, as it should.
    misspelt = film[:-3] + film[-2:] if len(film) > 4 else film + "x"
    if show(args.index, misspelt) != 1:
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
