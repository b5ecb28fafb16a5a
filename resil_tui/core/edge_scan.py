"""Where things are in an Edge `.env` text: assignments, value spans, whole IPv4 addresses.

The planner (edge_env.py) edits the file by replacing characters inside value spans only,
so this module's job is to say exactly which characters python-dotenv reads as the value
of each assignment. python-dotenv does the parsing (parse_stream, the same reader that
`dotenv_values` uses); this module only recovers offsets the parser does not expose, and
the planner checks afterwards that dotenv reads the rewritten text as intended.
"""

from __future__ import annotations

import io
import re
from ipaddress import IPv4Address

from dotenv.parser import parse_stream
from dotenv.variables import Variable, parse_variables

from resil_tui.core.records import record

# Mirrors dotenv.parser's grammar up to the start of the value (leading whitespace,
# optional `export `, quoted or bare key, `=` and the blanks after it).
_ASSIGNMENT = re.compile(
    r"\s*(?:export[^\S\r\n]+)?(?P<key>'[^']+'|[^=\#\s]+)[^\S\r\n]*(?P<eq>=[^\S\r\n]*)"
)
_SINGLE_QUOTED = re.compile(r"'((?:\\.|[^'\\])*)'", re.DOTALL)
_DOUBLE_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"', re.DOTALL)
_UNQUOTED = re.compile(r"[^\r\n]*")
_INLINE_COMMENT = re.compile(r"\s+#.*")

_BOM = "\ufeff"


@record
class Assignment:
    """One `KEY=value` binding as dotenv reads it, with where its value sits in the text."""

    key: str
    value: str | None  # None for a bare `KEY` line (dotenv: key without value)
    start: int  # offset of the binding's text (may include blank lines before it)
    end: int
    line: int  # 1-based line of the key, counted in "\n" like grep -n and editors do
    value_span: tuple[int, int] | None  # offsets of the value's characters (inside quotes)
    quote: str  # "'", '"' or "" (bare value)


@record
class Chunk:
    """A stretch of text dotenv read as one binding, a comment/blank, or an unparsable line."""

    start: int
    end: int
    assignment: Assignment | None
    parse_error: bool


@record
class EnvScan:
    """An Edge `.env` cut into dotenv's chunks, with the offsets the planner edits by."""

    text: str
    chunks: tuple[Chunk, ...]
    aligned: bool  # False if dotenv's chunks did not tile the text (offsets unusable)

    @property
    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(c.assignment for c in self.chunks if c.assignment is not None)

    def values(self) -> dict[str, str | None]:
        """What dotenv_values(stream=..., interpolate=False) returns: the last assignment wins."""
        return {a.key: a.value for a in self.assignments}

    def assignments_of(self, key: str) -> tuple[Assignment, ...]:
        return tuple(a for a in self.assignments if a.key == key)

    def chunk_at(self, offset: int) -> Chunk | None:
        for chunk in self.chunks:
            if chunk.start <= offset < chunk.end:
                return chunk
        return None


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_text(text: str, line: int) -> str:
    """The content of a 1-based "\\n" line, without its line ending."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    return lines[line - 1].removesuffix("\r")


def scan_env(text: str) -> EnvScan:
    """Split the text into dotenv bindings and locate each assignment's value."""
    base = 1 if text.startswith(_BOM) else 0  # dotenv's reader drops a leading BOM
    chunks: list[Chunk] = []
    offset = base
    for binding in parse_stream(io.StringIO(text)):
        start, end = offset, offset + len(binding.original.string)
        offset = end
        if binding.key is None:
            chunks.append(Chunk(start, end, None, binding.error))
            continue
        assignment = _locate(text, start, end, binding.key, binding.value)
        chunks.append(Chunk(start, end, assignment, False))
    aligned = offset == len(text)
    return EnvScan(text=text, chunks=tuple(chunks), aligned=aligned)


def _locate(text: str, start: int, end: int, key: str, value: str | None) -> Assignment:
    match = _ASSIGNMENT.match(text, start, end)
    key_at = start if match is None else match.start("key")
    line = line_of(text, key_at)
    if match is None or value is None:
        return Assignment(key, value, start, end, line, None, "")
    found_key = match["key"]
    if found_key.startswith("'"):
        found_key = found_key[1:-1]
    if found_key != key:
        return Assignment(key, value, start, end, line, None, "")
    v = match.end()
    first = text[v : v + 1] if v < end else ""
    span: tuple[int, int] | None
    quote = ""
    if len(match["eq"]) > 1 and first == "#":
        span = (v, v)  # `KEY= # comment`: empty value, the rest is a comment
    elif first in ("'", '"'):
        quote = first
        quoted = (_SINGLE_QUOTED if first == "'" else _DOUBLE_QUOTED).match(text, v, end)
        span = None if quoted is None else quoted.span(1)
    elif first in ("", "\n", "\r"):
        span = (v, v)
    else:
        bare = _UNQUOTED.match(text, v, end)
        part = "" if bare is None else bare.group(0)
        kept = _INLINE_COMMENT.sub("", part, count=1).rstrip()
        span = (v, v + len(kept))
    return Assignment(key, value, start, end, line, span, quote)


def whole_address_pattern(address: IPv4Address) -> re.Pattern[str]:
    """An address as a whole token: `10.0.0.1` matches in `10.0.0.1:3478`, `10.0.0.1/32`,
    `a,10.0.0.1-10.0.0.9` but not in `10.0.0.10`, `110.0.0.1` or `1.10.0.0.1`."""
    return re.compile(r"(?<![0-9])(?<![0-9]\.)" + re.escape(str(address)) + r"(?![0-9])(?!\.[0-9])")


def find_address(text: str, address: IPv4Address) -> list[tuple[int, int]]:
    return [m.span() for m in whole_address_pattern(address).finditer(text)]


def referenced_variables(value: str) -> tuple[str, ...]:
    """Names of `${NAME}` references inside a value (dotenv's interpolation syntax)."""
    return tuple(a.name for a in parse_variables(value) if isinstance(a, Variable))


def interpolate(value: str, env: dict[str, str | None]) -> str:
    """Expand `${NAME}` / `${NAME:-default}` from the file's own values only (never os.environ)."""
    return "".join(atom.resolve(env) for atom in parse_variables(value))
