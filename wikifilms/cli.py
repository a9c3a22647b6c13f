"""`wikifilms COMMAND ...`: the stages' commands under one name, beside their `python -m` forms.

Each command is the stage's own entry point with the same arguments (`wikifilms ingest --help`
is `python -m spark_jobs.parse_dump --help`); the stage is imported only when its command
runs, so `wikifilms --help` is instant and a query host needs neither Spark nor TensorFlow.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module with main(argv), arguments put first, what it does)
COMMANDS = {
    "download": ("download.cli", [], "fetch a dump run or a MovieLens release, resumably"),
    "sample": ("sample_dump.dump", [], "write a generated sample dump and its truth"),
    "ingest": ("spark_jobs.parse_dump", [], "dump -> tables (Spark)"),
    "ratings": ("spark_jobs.ratings", [], "MovieLens -> ratings tables linked to films (Spark)"),
    "train": ("trainer.cli", ["train"], "tables -> run folder of film and link vectors"),
    "evaluate": ("trainer.cli", ["evaluate"], "a run's held-out metrics and quality report"),
    "rank": ("trainer.cli", ["rank"], "ratings + run folder -> ranking run (films for people)"),
    "rate": ("trainer.cli", ["rate"], "ratings + run folder -> predicted stars beside baselines"),
    "index": ("index.cli", ["build"], "run folder -> index folder"),
    "query": ("index.cli", ["query"], "films like X, for someone who liked X, Y, Z, for a user"),
    "verify": ("index.cli", ["verify"], "re-hash every file of an index folder"),
    "serve": ("index.cli", ["serve"], "the web page and its JSON API over an index folder"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: wikifilms COMMAND [ARGS ...]   (wikifilms COMMAND --help for one)", "",
             "Film similarity learned from Wikipedia's links.", "", "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, _, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"wikifilms: error: no command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, first, _ = COMMANDS[argv[0]]
    return importlib.import_module(module).main([*first, *argv[1:]])
