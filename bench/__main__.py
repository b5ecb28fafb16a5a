"""`python -m bench`: see bench/driver.py (`make bench`, `make bench-quick`)."""

import sys

from bench.driver import main

sys.exit(main())
