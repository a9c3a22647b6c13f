"""What every command line of the project shares: --config, -p, --show-config, -q/-v, logging.

Standard library only. Each entry point builds its parser, calls `add_config_arguments` and
`add_logging_arguments`, then `setup_logging(args)` and `load(args)`; `load` prints the
effective configuration and exits when `--show-config` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from conf import Config, load_config
from conf.errors import NOT_FOUND, WikifilmsError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# What an entry point reports as one line: the project's errors, and the file system's.
KNOWN_ERRORS = (WikifilmsError, OSError)


def fail(prog: str, error: BaseException, note: str = "") -> int:
    """Say a known failure (KNOWN_ERRORS) in one line on stderr; return its exit status
    (conf.errors: 2, or 1 for what is not there, said without "error:")."""
    status = getattr(error, "exit_status", 2)
    print(f"{prog}: {'' if status == NOT_FOUND else 'error: '}{error}{note}", file=sys.stderr)
    return status


def parser(prog: str, description: str, example: str) -> argparse.ArgumentParser:
    """A parser whose --help says what the command does and shows one example."""
    return argparse.ArgumentParser(prog=prog, description=description,
                                   epilog=f"example:\n  {example}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def subcommand(sub, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A subcommand's parser, its --help as `parser`'s: what it does and one example."""
    return sub.add_parser(name, help=summary, description=summary,
                          epilog=f"example:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="OVERLAY",
                   help="overlay on conf/base.toml: local, test, cluster, gpu, or a file")
    p.add_argument("-p", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override one setting (repeatable), e.g. -p train.dim=128")
    p.add_argument("--show-config", action="store_true",
                   help="print the effective configuration (TOML) and exit")


def add_logging_arguments(p: argparse.ArgumentParser, spark: bool = False) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    if spark:
        p.add_argument("-v", "--verbose", action="store_true",
                       help="Spark's own log lines on the console too (by default they go to "
                       "a file that a failed job names)")


def setup_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format=LOG_FORMAT)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def load(args: argparse.Namespace) -> Config:
    """The configuration of `--config` and `-p` (with `-v`: Spark logging on the console);
    with `--show-config`, printed as TOML, and the process ends with status 0."""
    overrides = [*args.overrides, *(['spark.log_file="-"'] if getattr(args, "verbose", False)
                                    else [])]
    cfg = load_config(args.config, overrides)
    if getattr(args, "show_config", False):
        print(to_toml(cfg), end="")
        sys.exit(0)
    return cfg


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


def to_toml(cfg: dict) -> str:
    """The configuration as TOML that `--config FILE` reads back, with where it came from."""
    sources = getattr(cfg, "sources", ["a run's manifest"])
    lines = [f"# effective configuration: {' + '.join(sources)}"]
    for section, values in cfg.items():
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
