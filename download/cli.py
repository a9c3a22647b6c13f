"""`python -m download`: a Wikipedia dump run, or a MovieLens release.

    python -m download --wiki enwiki --date latest|YYYYMMDD --out DIR
                       [--parts] [--job NAME] [--mirror URL] [-q]
    python -m download --movielens 100k|1m|10m|20m|25m|32m|latest|latest-small
                       --out DIR [--mirror URL] [-q]
"""

from __future__ import annotations

import json
import sys

from conf import cli
from download.dumps import PARTS_JOB, download
from download.movielens import RELEASES, download_movielens


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(
        "python -m download",
        "Download a Wikipedia dump run (its files as dumpstatus.json lists them, SHA-1 checked) "
        "or a MovieLens release (MD5 and CRC checked); resumable, one connection, polite.",
        "python -m download --wiki enwiki --date latest --out /data/enwiki")
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
    cli.add_config_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, warnings only")
    args = parser.parse_args(argv)
    cli.setup_logging(args)
    try:
        cfg = cli.load(args)
        if args.movielens:
            summary = download_movielens(args.movielens, args.out, cfg, mirror=args.mirror,
                                         progress=not args.quiet)
        else:
            summary = download(args.wiki, args.date, args.out, cfg, parts=args.parts,
                               job=args.job, mirror=args.mirror, progress=not args.quiet)
    except cli.KNOWN_ERRORS as e:
        return cli.fail("download", e)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
