import sys

from resil_tui.cli import main

sys.exit(main())
