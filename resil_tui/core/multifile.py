"""Split the output of `tail -n N -- FILE...` back into one text per file.

Reading several small files in one command (instead of one `cat` each) saves a channel,
and on a real node a fork, per file and per poll. With more than one file GNU tail
prints a `==> FILE <==` header before each file, a blank line between files, and
`tail: cannot open 'FILE' for reading: ...` on stderr for a missing one.
"""

from __future__ import annotations

import re

from resil_tui.core.records import field, record

_MISSING = re.compile(r"^tail: cannot open '(?P<path>.*)' for reading: (?P<why>.*)$")
# A file tail opened but could not read (a directory): its header is written all the same.
_ERROR_READING = re.compile(r"^tail: error reading '(?P<path>.*)': (?P<why>.*)$")


@record
class MultiFile:
    """The files one `tail -n N -- FILE...` read, split back per path."""

    texts: dict[str, str | None]  # None: the file does not exist
    problems: dict[str, str] = field(default_factory=dict)  # path -> why it could not be read

    def text(self, path: str) -> str | None:
        return self.texts.get(path)


def split_multi_tail(stdout: str, stderr: str, paths: list[str]) -> MultiFile:
    """Texts by path. A header only counts when it names the next expected file; a file
    holding a line equal to the next file's header still shifts the split (tail's output
    cannot tell them apart), and then the real header lands inside a file's text: a file
    whose text holds a header of a file read, and the file before it (which may have been
    cut short), are problems, never texts judged as if read whole."""
    problems: dict[str, str] = {}
    missing: set[str] = set()
    unread: dict[str, str] = {}  # headed in stdout, but not read
    for line in stderr.splitlines():
        errored = _ERROR_READING.match(line.strip())
        if errored and errored.group("path") in paths:
            unread[errored.group("path")] = errored.group("why")
            continue
        found = _MISSING.match(line.strip())
        if found and found.group("path") in paths:
            why = found.group("why")
            if "No such file" in why:
                missing.add(found.group("path"))
            else:
                problems[found.group("path")] = why
    # A file tail could not read still has its header (split by it), but no text.
    present = [p for p in paths if p not in missing and p not in problems]
    for path, why in unread.items():
        problems.setdefault(path, why)
    texts: dict[str, str | None] = {p: None for p in paths}
    if len(paths) == 1:
        # A single file gets no header from tail.
        if present and paths[0] not in unread:
            texts[paths[0]] = stdout
        return MultiFile(texts, problems)
    lines = stdout.splitlines(keepends=True)
    current: str | None = None
    buffer: list[str] = []
    queue = list(present)

    def flush(before_header: bool) -> None:
        if current is not None:
            text = "".join(buffer)
            # tail writes "\n" before every header after the first; it is not file content.
            if before_header and text.endswith("\n"):
                text = text[:-1]
            texts[current] = text

    for line in lines:
        stripped = line.rstrip("\r\n")
        if queue and stripped == f"==> {queue[0]} <==":
            flush(before_header=True)
            current = queue.pop(0)
            buffer = []
            continue
        buffer.append(line)
    flush(before_header=False)
    for path in queue:  # announced as present but no header seen: unreadable output
        problems.setdefault(path, "no output for this file")
    headers = {f"==> {p} <==" for p in paths}
    suspects = [
        suspect
        for i, path in enumerate(present)
        if any(line.rstrip("\r") in headers for line in (texts[path] or "").split("\n"))
        for suspect in present[max(0, i - 1) : i + 1]
    ]
    for suspect in suspects:  # as a file that could not be read: no text, a problem
        texts[suspect] = None
        problems.setdefault(
            suspect, "tail's output cannot be split: a file holds a line like its header"
        )
    for path in unread:
        texts[path] = None
    return MultiFile(texts, problems)
