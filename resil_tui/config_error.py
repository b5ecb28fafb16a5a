"""One mistake in an inventory file, as the loader (resil_tui/inventory.py) reports it.

Apart from the loader so that only a file with a mistake creates this dataclass: creating
one costs about half a millisecond on Python 3.11, which check-config on a valid file, and
the console, paid at every start.
"""

from __future__ import annotations

from resil_tui.core.records import record


@record
class ConfigError:
    """One mistake in the inventory: where (file, line, column, key) and what."""

    file: str
    line: int | None
    key: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
