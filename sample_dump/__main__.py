import sys

from sample_dump.dump import main

sys.exit(main())
