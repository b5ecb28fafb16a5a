#!/usr/bin/env python3
"""An `on_change` command for `resil-tui watch`: mail each journal entry it is given.

resil-tui runs it with the entry as one JSON document on stdin
({"schema_version": 1, "event": {"time", "site", "node", "kind", "from", "to", "evidence",
...}}), no shell, in its own process group, killed after `[watch] on_change_timeout`.

    [watch]
    on_change = ["/usr/local/bin/resil-notify", "--to", "oncall@example.com"]

It hands the mail to sendmail (`--sendmail`, default /usr/sbin/sendmail -t). Exit 0 when
the mail was handed over; the watcher logs any other status and goes on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from email.message import EmailMessage


def message(doc: dict[str, object], to: str, sender: str) -> EmailMessage:
    event = doc["event"]
    assert isinstance(event, dict)
    where = event.get("node") or event["site"]
    change = f"{event.get('from') or '(first seen)'} -> {event['to']}"
    mail = EmailMessage()
    mail["To"] = to
    mail["From"] = sender
    mail["Subject"] = f"[resil-tui] {event['site']}: {where} {event['kind']} {change}"
    mail.set_content(
        f"{event['time']}\n{where} {event['kind']}: {change}\n\n{event.get('evidence', '')}\n\n"
        f"resil-tui history --site {event['site']} --since 1h\n"
    )
    return mail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True)
    parser.add_argument("--from", dest="sender", default="resil-tui")
    parser.add_argument("--sendmail", default="/usr/sbin/sendmail")
    args = parser.parse_args()
    doc = json.load(sys.stdin)
    mail = message(doc, args.to, args.sender)
    done = subprocess.run([args.sendmail, "-t", "-oi"], input=mail.as_bytes(), check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
