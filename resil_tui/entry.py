"""The program: `resil-tui [COMMAND]`.

Commands run through the CLI package (never Textual); no command, and `init`, open the
console (resil_tui/ui/launch.py), imported only then. This module sits above both so that
neither the CLI imports the UI nor the other way round.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from resil_tui import cli


def main(argv: Sequence[str] | None = None) -> int:
    ns, options = cli.parse(argv)
    cli.setup_debug_log(ns.command, options.verbose)
    if ns.command not in cli.CONSOLE_COMMANDS:
        return cli.guard(lambda: cli.run_command(ns, options))

    def console() -> int:
        cli.validate_theme(options.theme)
        if ns.command == cli.INIT:
            from resil_tui.cli.init import InitArgs
            from resil_tui.ui import launch

            return launch.init_form(InitArgs.from_namespace(ns))
        # No cyclic garbage collection while the console starts: its imports and first
        # screen allocate some 10^5 objects that live as long as it does, and collecting
        # them again and again was a fifth of the time to the first screen. The console
        # turns it back on once started (ResilApp._start_in_background, which freezes
        # what start-up built); here again whatever happens.
        gc.disable()
        try:
            from resil_tui.ui import launch

            return launch.console(options)
        finally:
            gc.enable()

    return cli.guard(console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
