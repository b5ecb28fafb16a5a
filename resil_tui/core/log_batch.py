"""Cut a stream of text chunks into complete lines for the log view.

SSH delivers chunks that split lines anywhere. The batcher keeps the partial last line
until its newline arrives, and cleans each complete line: ``\\r`` from CRLF and from PTY
output (``\\r\\n``, even ``\\r\\r\\n``), colour escapes of ``compose logs`` under a PTY, other
control characters. Bytes are accepted too and decoded incrementally (a UTF-8 sequence
split between chunks is joined; invalid bytes become U+FFFD instead of failing).

A stream that never sends a newline must not grow memory without bound: a partial line
longer than ``max_line_chars`` is cut and emitted as a line of its own.
"""

from __future__ import annotations

import codecs

from resil_tui.core.log_lines import clean_line

DEFAULT_MAX_LINE_CHARS = 64 * 1024


class LineBatcher:
    def __init__(self, *, clean: bool = True, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> None:
        if max_line_chars < 1:
            raise ValueError("max_line_chars must be at least 1")
        self._clean = clean
        self._max = max_line_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []  # pieces of the unfinished line, joined lazily
        self._partial_len = 0
        self._lines: list[str] = []

    def feed(self, chunk: str | bytes) -> None:
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return
        if "\n" not in text:
            # Appending pieces keeps byte-at-a-time input linear instead of quadratic.
            self._partial.append(text)
            self._partial_len += len(text)
            if self._partial_len > self._max:
                self._cut_overlong()
            return
        pieces = text.split("\n")
        pieces[0] = "".join(self._partial) + pieces[0]
        last = pieces.pop()
        for piece in pieces:
            self._emit(piece)
        self._partial = [last] if last else []
        self._partial_len = len(last)
        if self._partial_len > self._max:
            self._cut_overlong()

    def take(self) -> list[str]:
        """Complete lines received since the last call (the partial line stays)."""
        lines, self._lines = self._lines, []
        return lines

    def flush(self) -> list[str]:
        """End of stream: complete lines plus the unfinished last line, if any."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._partial.append(tail)
        last = "".join(self._partial)
        self._partial = []
        self._partial_len = 0
        if last.strip("\r"):  # a lone carriage return at the end starts no line
            self._emit(last)
        return self.take()

    @property
    def pending(self) -> str:
        """The unfinished last line (e.g. a prompt the UI may want to show)."""
        return "".join(self._partial)

    def __len__(self) -> int:
        return len(self._lines)

    def _finish(self, line: str) -> str:
        if self._clean:
            return clean_line(line)
        return line.replace("\r", "")

    def _emit(self, line: str) -> None:
        while len(line) > self._max:
            self._lines.append(self._finish(line[: self._max]))
            line = line[self._max :]
        self._lines.append(self._finish(line))

    def _cut_overlong(self) -> None:
        text = "".join(self._partial)
        while len(text) > self._max:
            self._lines.append(self._finish(text[: self._max]))
            text = text[self._max :]
        self._partial = [text] if text else []
        self._partial_len = len(text)
