import sys

from wikifilms.cli import main

sys.exit(main())
