import sys

from download.cli import main

sys.exit(main())
