"""`python -m download`: a Wikipedia dump run, or a MovieLens release.

    python -m download --wiki enwiki --date latest|YYYYMMDD --out DIR
                       [--parts] [--job NAME] [--mirror URL] [-q]
    python -m download --movielens 100k|1m|10m|20m|25m|32m|latest|latest-small
                       --out DIR [--mirror URL] [-q]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from conf import ConfigError, load_config
from download.dumps import PARTS_JOB, download
from download.http import DownloadError
from download.movielens import RELEASES, download_movielens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", metavar="RELEASE", help="a MovieLens release instead of a "
                        f"dump: one of {', '.join(RELEASES)}")
    parser.add_argument("--wiki", default="enwiki", help="wiki database name (default enwiki)")
    parser.add_argument("--date", default="latest", help="latest (default) or YYYYMMDD")
    parser.add_argument("--out", required=True, help="folder for the dump files")
    parser.add_argument("--parts", action="store_true",
                        help=f"the partition files (job {PARTS_JOB}) instead of the multistream")
    parser.add_argument("--job", help="another job of dumpstatus.json")
    parser.add_argument("--mirror", help="base URL of a mirror (the part before /<wiki>/<date>/, "
                        "or GroupLens' folder of zips)")
    parser.add_argument("--config", help="overlay: local, test, cluster or a path")
    parser.add_argument("-p", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override one setting")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        if args.movielens:
            summary = download_movielens(args.movielens, args.out, cfg, mirror=args.mirror,
                                         progress=not args.quiet)
        else:
            summary = download(args.wiki, args.date, args.out, cfg, parts=args.parts,
                               job=args.job, mirror=args.mirror, progress=not args.quiet)
    except (ConfigError, DownloadError, OSError) as e:
        print(f"download: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
