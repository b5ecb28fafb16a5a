"""The formatter of every handler the product logs to (the debug log, stderr with
--verbose): each record passes the one sanitizer (core/sanitize.py) as it is written.

Log records quote what nodes said: an SFTP status text in `str(exc)`, a DISCONNECT reason,
asyncssh's own records. Cleaning them here, once, covers every logger and every call site.

The scheme, one rule per part of a record:
- Its first line (time, level, logger and message) is `clean(..., one_line=True)`: a
  control shows as its visible form, a newline inside the message as `␤`, so a message
  can never start a line of its own.
- Its traceback and stack (`exc_text`, `stack_info`) keep their newlines (those lines are
  Python's, and readable so), cleaned, and each of their lines is indented by
  `CONTINUATION`: only a record's first line starts at column 0, so an exception message
  spanning lines cannot pass for a record of its own.
"""

from __future__ import annotations

import logging

from resil_tui.core.sanitize import clean

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# In front of every traceback or stack line: what sets a record's own lines apart.
CONTINUATION = "  | "


class SafeFormatter(logging.Formatter):
    """`logging.Formatter` whose output holds no control character but newline and tab,
    and whose only line at column 0 is the record's first (see the module's docstring)."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, with the message and what follows it kept apart.
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        head = clean(self.formatMessage(record), one_line=True)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        # exc_text may be another formatter's (it is cached on the record): cleaned here.
        tails = [record.exc_text or ""]
        if record.stack_info:
            tails.append(self.formatStack(record.stack_info))
        lines = [head]
        for tail in tails:
            tail = clean(tail).rstrip("\n")
            if tail:
                lines.extend(CONTINUATION + line for line in tail.split("\n"))
        return "\n".join(lines)
