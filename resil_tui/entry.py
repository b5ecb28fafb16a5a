"""The program: `resil-tui [COMMAND]`.

Commands run through the CLI package (never Textual); no command, and `init`, open the
console (resil_tui/ui/launch.py), imported only then. This module sits above both so that
neither the CLI imports the UI nor the other way round.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    # No cyclic garbage collection while the program starts: its imports and parser (and
    # the console's first screen) allocate objects that live as long as it does, and
    # collecting them again and again was 2 ms of check-config's start-up, and a fifth of
    # the console's time to its first screen. Hence the import here, not at the top.
    gc.disable()
    try:
        from resil_tui import cli

        ns, options = cli.parse(argv)
        cli.setup_debug_log(ns.command, options.verbose)
    except BaseException:
        gc.enable()
        raise
    if ns.command not in cli.CONSOLE_COMMANDS:
        # What start-up built, out of the collector's way (its first collection would
        # scan it all); the collector on for the command.
        gc.freeze()
        gc.enable()
        return cli.guard(lambda: cli.run_command(ns, options))

    def console() -> int:
        try:
            cli.validate_theme(options.theme)
            if ns.command == cli.INIT:
                gc.enable()  # a form that waits for the admin: collect as usual
                from resil_tui.cli.init import InitArgs
                from resil_tui.ui import launch

                return launch.init_form(InitArgs.from_namespace(ns))
            # The console turns the collector back on once started
            # (ResilApp._start_in_background, which freezes what start-up built).
            from resil_tui.ui import launch

            return launch.console(options)
        finally:
            gc.enable()

    return cli.guard(console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
