"""Start the console, the `init` form, or the first-run screen (no inventory found).

Called by the program's entry point (resil_tui/entry.py) for the commands that need a
terminal UI; errors are raised as the CLI's (CliError, InventoryNotFound...) so the entry
point reports them the same way as every other command's.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import TYPE_CHECKING

from resil_tui import paths as xdg
from resil_tui.cli.common import CliError, GlobalArgs, maybe_lab, resolve_inventory
from resil_tui.inventory import InventoryNotFound, find_inventory
from resil_tui.ops.session import session_on_demand
from resil_tui.preferences import PreferencesError, console_settings

if TYPE_CHECKING:
    # `init` and the first-run form only: not on the console's way to its first screen.
    from resil_tui.cli.init import InitArgs
    from resil_tui.inventory_draft import Written

EXIT_OK = 0
EXIT_NOTHING = 1
EXIT_USAGE = 2


def console(options: GlobalArgs) -> int:
    """The console, after the first-run screen when no inventory exists anywhere."""
    if not options.demo:
        options, code = _first_run(options)
        if code is not None:
            return code
    return asyncio.run(_console(options))


async def _console(options: GlobalArgs) -> int:
    from resil_tui.ui.app import ResilApp

    async with maybe_lab(options) as lab:
        inventory = resolve_inventory(options, lab)
        try:
            settings = console_settings(
                theme_flag=options.theme,
                refresh_flag=options.refresh,
                log_buffer_flag=options.log_buffer,
                sites=list(inventory.sites),
            )
        except PreferencesError as exc:
            raise CliError(str(exc)) from None
        # The console polls the same nodes all along: one kept shell per node. Its session
        # opens once the first screen is painted (ResilApp._start_up).
        async with session_on_demand(inventory, lab=lab, keep_shells=True) as session:
            app = ResilApp(
                session,
                theme=settings.theme.value,
                demo=lab is not None,
                status_refresh_interval=settings.refresh_interval.value,
                site=settings.site.value,
                log_buffer_lines=settings.log_buffer.value,
                preference_keys=settings.keys,
                preferences_path=xdg.preferences_path(),
                startup_warnings=settings.problems,
            )
            result = await app.run_async()
    return int(result or 0)


def init_form(args: InitArgs) -> int:
    """`resil-tui init [FILE] [--force]`."""
    from pathlib import Path

    from resil_tui.inventory_draft import TargetExists, default_target
    from resil_tui.ui.init_app import InitApp

    target = Path(args.file).expanduser() if args.file else default_target()
    if target.exists() and not args.force:
        raise CliError(str(TargetExists(target)))
    if target.exists() and target.is_dir():
        raise CliError(f"{target} is a directory; give a file name")
    result = InitApp(target, force=args.force).run()
    if result is None or result.written is None:
        print("resil-tui: nothing written", file=sys.stderr)
        return EXIT_NOTHING
    print_written(result.written)
    return EXIT_OK


def print_written(written: Written) -> None:
    print(f"wrote {written.path}")
    if written.backup is not None:
        print(f"the previous file is kept as {written.backup}")
    try:
        found = find_inventory(None)
    except InventoryNotFound:
        found = None
    if found is not None and found.resolve() == written.path.resolve():
        print("open the console with: resil-tui")
    else:
        print(f"open the console with: resil-tui --hosts {written.path}")


def _first_run(options: GlobalArgs) -> tuple[GlobalArgs, int | None]:
    """No inventory in the lookup order: offer init or the demo. (options, None): go on.

    Without a terminal (a script, a pipe) there is nobody to ask: InventoryNotFound is
    raised, and the entry point prints where it looked."""
    from dataclasses import replace

    try:
        find_inventory(options.hosts)
        return options, None
    except InventoryNotFound as exc:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise
        looked_in = exc.looked_in
    from resil_tui.inventory_draft import default_target
    from resil_tui.ui.init_app import InitApp

    # A form that waits for the admin: nothing to speed up, collect as usual (entry.py).
    gc.enable()
    result = InitApp(default_target(), looked_in=looked_in).run()
    if result is None or result.action == "quit":
        print(
            "resil-tui: no inventory; nothing started (resil-tui init creates one)", file=sys.stderr
        )
        return options, EXIT_USAGE
    if result.action == "demo":
        return replace(options, demo=True), None
    if result.written is None:
        return options, EXIT_NOTHING
    print_written(result.written)
    return replace(options, hosts=str(result.written.path)), None
