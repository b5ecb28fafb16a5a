import sys

from resil_tui.entry import main

sys.exit(main())
