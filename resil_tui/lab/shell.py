"""What a POSIX shell does with the command line sshd hands it, for the lab's nodes.

sshd runs a client's command line through the user's shell (`$SHELL -c LINE`), so the
lab reads a line the way sh reads it, never by splitting it on blanks: quoting (`'$?'`
is literal, `"$?"` and `$?` expand; backslashes), the `;` `&&` `||` and newline
separators with or without blanks around them, redirections (`>&2`, `2>/dev/null`,
`2>&1`, `</dev/null`; not bash's `&>`, which sh reads as `&` then `>`), parameter
expansion (`$?`, `${?}`, `$HOME`, unset names expand to nothing) and the `printf`
builtin's formats. What the lab does not emulate (pipes, background jobs, command
substitution, compound commands, here-documents, redirections to files) is refused as a
whole line, with a clear message and exit status 2, rather than run as something else.

This module is text only (no node, no I/O): emulation.py runs what `parse` returns.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

# Words that start a compound command when unquoted in command position.
_RESERVED_WORDS = "! { } case do done elif else esac fi for function if in select then until while"
RESERVED = frozenset(_RESERVED_WORDS.split())
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_PARAMS = "?$#!-@*0123456789"
REDIRECTIONS = frozenset({">", ">>", ">|", "<", ">&", "<&", "<>"})


# One token at a time: blanks, a run of characters with no meaning to the tokenizer (`#`
# and `~` mean something only where a word starts: checked on the run), a single-quoted
# string, an operator (longest first), a newline, or one character read on its own.
_TOKEN = re.compile(
    r"(?P<blank>[ \t]+)"
    r"|(?P<plain>[^ \t\n\\'\"$`;&|<>()]+)"
    r"|(?P<single>'[^']*')"
    r"|(?P<op>&&|\|\||;;|>>|>&|<&|>\||<<|<>|[;&|<>()])"
    r"|(?P<newline>\n)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_DOUBLE_QUOTED_RUN = re.compile(r'[^"\\$`]+')
# A whole word at once, when it is nothing but plain runs, quoted strings without any
# escape, and double-quoted lone expansions (`"$?"`, `"$HOME"`): nearly every word of
# the batched reads. It ends before a blank, a newline, a `;` or the end of the line: one
# match instead of one per piece. It never starts with `#` or `~` (a comment, a tilde
# expansion); a word followed by anything else (a redirection after an fd number, `&&`)
# takes the general path.
_PLAIN_RUN = r"[^ \t\n\\'\"$`;&|<>()]"
_QUOTED_PARAM = r'"\$(?:[?$#!\-@*0-9]|[A-Za-z_][A-Za-z0-9_]*)"'
_PIECE = rf"{_PLAIN_RUN}+|'[^']*'|\"[^\"\\$`]*\"|{_QUOTED_PARAM}"
_WHOLE_WORD = re.compile(
    rf"(?:[^ \t\n\\'\"$`;&|<>()#~]{_PLAIN_RUN}*|'[^']*'|\"[^\"\\$`]*\"|{_QUOTED_PARAM})"
    rf"(?:{_PIECE})*(?=[ \t\n;]|$)"
)
_PIECES = re.compile(_PIECE)
# With no word begun: a whole word, blanks, or a lone `;` (the tokens of nearly every
# batched line), in one match; anything else goes to _TOKEN.
_QUICK = re.compile(rf"(?P<word>{_WHOLE_WORD.pattern})|(?P<blank>[ \t]+)|(?P<semi>;(?!;))")


class ShellError(ValueError):
    """A line sh would refuse (syntax), or one the lab does not emulate: exit status 2."""


# Named tuples rather than dataclasses: the lab builds thousands of these per second at
# scale, and a tuple is the cheapest immutable record Python has.
class Segment(NamedTuple):
    text: str  # the characters, quotes removed; for an expansion, how it was written
    quoted: bool
    param: str | None = None  # an expansion: "?", "HOME", "~" ...


class Word(NamedTuple):
    segments: tuple[Segment, ...]

    @property
    def literal(self) -> str:
        """The word with its quotes removed and its expansions as written."""
        segments = self.segments
        return segments[0].text if len(segments) == 1 else "".join([s.text for s in segments])

    @property
    def plain(self) -> bool:
        """Unquoted and without expansions: may be a reserved word or an fd number."""
        return all(not s.quoted and s.param is None for s in self.segments)


class Operator(NamedTuple):
    text: str
    fd: int | None = None  # the io number before a redirection (`2>`)


_SEMICOLON = Operator(";")


class Redirect(NamedTuple):
    fd: int
    op: str
    target: Word


class Simple(NamedTuple):
    words: tuple[Word, ...]
    redirects: tuple[Redirect, ...] = ()


# (connector, command): the connector is ";" (run it), "&&" or "||" (depending on $?).
Program = tuple[tuple[str, Simple], ...]


@dataclass
class _WordBuilder:
    segments: list[Segment] = field(default_factory=list)
    started: bool = False

    def add(self, text: str, quoted: bool) -> None:
        self.started = True
        last = self.segments[-1] if self.segments else None
        if last is not None and last.quoted == quoted and last.param is None:
            self.segments[-1] = Segment(last.text + text, quoted)
        else:
            self.segments.append(Segment(text, quoted))

    def expansion(self, written: str, param: str, quoted: bool) -> None:
        self.started = True
        self.segments.append(Segment(written, quoted, param))

    def take(self) -> Word | None:
        if not self.started:
            return None
        word = Word(tuple(self.segments))
        self.segments, self.started = [], False
        return word


def _dollar(line: str, i: int, quoted: bool, word: _WordBuilder) -> int:
    """Read the expansion at line[i] == "$"; return the index after it."""
    nxt = line[i + 1] if i + 1 < len(line) else ""
    if nxt == "(":
        raise ShellError("command substitution and arithmetic ($(...)) are not emulated")
    if nxt == "{":
        close = line.find("}", i + 2)
        if close < 0:
            raise ShellError("Syntax error: Missing '}'")
        inner = line[i + 2 : close]
        if not (_NAME.fullmatch(inner) or (len(inner) == 1 and inner in _SPECIAL_PARAMS)):
            raise ShellError(f"${{{inner}}}: only plain ${{NAME}} expansions are emulated")
        word.expansion(line[i : close + 1], inner, quoted)
        return close + 1
    if nxt and nxt in _SPECIAL_PARAMS:
        word.expansion("$" + nxt, nxt, quoted)
        return i + 2
    name = _NAME.match(line, i + 1)
    if name:
        word.expansion("$" + name.group(), name.group(), quoted)
        return name.end()
    word.add("$", quoted)  # a lone "$" is itself
    return i + 1


def _double_quoted(line: str, i: int, word: _WordBuilder) -> int:
    """Read a double-quoted string whose opening quote is at line[i - 1]."""
    word.add("", True)  # `""` is an (empty) word
    while i < len(line):
        c = line[i]
        if c == '"':
            return i + 1
        if c == "\\" and i + 1 < len(line) and line[i + 1] in '$`"\\\n':
            if line[i + 1] != "\n":
                word.add(line[i + 1], True)
            i += 2
        elif c == "$":
            i = _dollar(line, i, True, word)
        elif c == "`":
            raise ShellError("command substitution (`...`) is not emulated")
        elif c == "\\":
            word.add(c, True)  # before any other character, a backslash is itself
            i += 1
        else:
            run = _DOUBLE_QUOTED_RUN.match(line, i)
            assert run is not None  # c is none of the characters the run stops at
            word.add(run.group(), True)
            i = run.end()
    raise ShellError("Syntax error: Unterminated quoted string")


@functools.lru_cache(maxsize=4096)
def _whole_word(text: str) -> Word:
    """The Word of a _WHOLE_WORD match, as _WordBuilder would build it piece by piece:
    runs of the same quoting joined (once, not piece by piece: a `sh -c` script is one
    word of dozens of pieces), an expansion its own segment. Cached: the same words (a
    command name, a format, a marker) come back in line after line."""
    segments: list[Segment] = []
    run: list[str] = []
    run_quoted: bool | None = None  # None: no run open

    def close() -> None:
        nonlocal run_quoted
        if run_quoted is not None:
            segments.append(Segment("".join(run), run_quoted))
            run.clear()
            run_quoted = None

    for piece in _PIECES.findall(text):
        first = piece[0]
        param = piece[1] == "$" if first == '"' else False
        quoted = first in "'\""
        body = "" if param else piece[1:-1] if quoted else piece
        if run_quoted is not quoted:
            close()
            run_quoted = quoted
        run.append(body)
        if param:  # `"$?"`: the (empty) quoted run it opens, then the expansion
            close()
            segments.append(Segment(piece[1:-1], True, piece[2:-1]))
    close()
    return Word(tuple(segments))


def tokens(line: str) -> list[Word | Operator]:
    return _tokens(line, whole_words=True)


def _tokens(line: str, *, whole_words: bool) -> list[Word | Operator]:
    """The line's words and operators; `whole_words=False` reads every word piece by
    piece (what the whole-word path must agree with, see the lab's shell tests)."""
    out: list[Word | Operator] = []
    word = _WordBuilder()

    def finish() -> None:
        done = word.take()
        if done is not None:
            out.append(done)

    i, n = 0, len(line)
    while i < n:
        if whole_words and not word.started:
            quick = _QUICK.match(line, i)
            if quick is not None:
                if quick.lastgroup == "word":
                    out.append(_whole_word(quick.group()))
                elif quick.lastgroup == "semi":
                    out.append(_SEMICOLON)
                i = quick.end()
                continue
        m = _TOKEN.match(line, i)
        assert m is not None  # `other` matches any character
        kind, text = m.lastgroup, m.group()
        if kind == "blank":
            finish()
            i = m.end()
        elif kind == "plain":
            if not word.started and text[0] == "#":
                end = line.find("\n", i)
                i = n if end < 0 else end  # a comment, up to the newline
                continue
            if not word.started and text[0] == "~" and (len(text) == 1 or text[1] == "/"):
                word.expansion("~", "~", False)
                text = text[1:]
            if text:
                word.add(text, False)
            i = m.end()
        elif kind == "single":
            word.add(text[1:-1], True)
            i = m.end()
        elif kind == "op":
            fd: int | None = None
            if (
                text in REDIRECTIONS
                and word.started
                and len(word.segments) == 1
                and word.segments[0].param is None
                and not word.segments[0].quoted
                and len(word.segments[0].text) == 1
                and word.segments[0].text.isdigit()
            ):
                fd = int(word.segments[0].text)  # `2>`: the digit names the fd (dash: one)
                word.take()
            finish()
            out.append(Operator(text, fd))
            i = m.end()
        elif kind == "newline":
            finish()
            out.append(Operator("\n"))
            i = m.end()
        elif text == "\\":
            if i + 1 < n and line[i + 1] == "\n":
                i += 2  # a line continuation
            else:
                word.add(line[i + 1 : i + 2] or "\\", True)
                i += 2
        elif text == "'":
            raise ShellError("Syntax error: Unterminated quoted string")
        elif text == '"':
            i = _double_quoted(line, i + 1, word)
        elif text == "$":
            i = _dollar(line, i, False, word)
        else:  # "`"
            raise ShellError("command substitution (`...`) is not emulated")
    finish()
    return out


_REFUSED_OPERATORS = {
    "|": "pipelines are not emulated",
    "&": "background jobs (&) are not emulated",
    "(": "subshells are not emulated",
    ")": 'Syntax error: ")" unexpected',
    ";;": 'Syntax error: ";;" unexpected',
    "<<": "here-documents are not emulated",
}


@functools.lru_cache(maxsize=1024)
def parse(line: str) -> Program:
    """The line as a list of simple commands with their connectors.

    Cached: the lab reads a line once to record what it holds and once to run it (and
    the `sh -c` script inside it likewise), with every node of a large lab in between.
    """
    program: list[tuple[str, Simple]] = []
    connector = ";"
    words: list[Word] = []
    redirects: list[Redirect] = []
    items = tokens(line)
    i = 0

    def end_command(op: str) -> None:
        nonlocal connector, words, redirects
        if not words and not redirects:
            if op == "\n" and connector in ("&&", "||"):
                return  # sh reads the next command of an `&&` or `||` list on the next line
            if op in ("&&", "||", ";") or connector in ("&&", "||"):
                raise ShellError(f'Syntax error: "{op}" unexpected')
            return  # an empty line, or blank lines between commands
        if words and words[0].plain and words[0].literal in RESERVED:
            raise ShellError(
                f"compound commands ({words[0].literal} ...) are not emulated by the lab"
            )
        program.append((connector, Simple(tuple(words), tuple(redirects))))
        connector = op if op in ("&&", "||") else ";"
        words, redirects = [], []

    while i < len(items):
        item = items[i]
        i += 1
        if isinstance(item, Word):
            words.append(item)
            continue
        if item.text in _REFUSED_OPERATORS:
            raise ShellError(_REFUSED_OPERATORS[item.text])
        if item.text in REDIRECTIONS:
            target = items[i] if i < len(items) else None
            if not isinstance(target, Word):
                raise ShellError(f'Syntax error: redirection "{item.text}" without a target')
            i += 1
            default = 0 if item.text in ("<", "<&", "<>") else 1
            redirects.append(
                Redirect(item.fd if item.fd is not None else default, item.text, target)
            )
            continue
        end_command(item.text)  # ";", "&&", "||", newline
    if connector in ("&&", "||") and not words and not redirects:
        raise ShellError("Syntax error: end of file unexpected")
    end_command("\n")  # the end of the line ends its last command, as a newline does
    return tuple(program)


def expand(word: Word, status: int, env: Mapping[str, str]) -> str | None:
    """The word's value; None when it vanishes (only unquoted expansions, all empty)."""
    parts: list[str] = []
    vanishes = True
    for s in word.segments:
        if s.param is None:
            parts.append(s.text)
            vanishes = False
            continue
        if s.param == "?":
            value = str(status)
        elif s.param == "~":
            value = env.get("HOME", "/root")
        elif s.param == "#":
            value = "0"
        elif s.param == "0":
            value = "sh"
        elif s.param == "$":
            value = env.get("$", "4242")
        else:
            value = env.get(s.param, "")
        parts.append(value)
        if s.quoted or value:
            vanishes = False
    return None if vanishes else "".join(parts)


def literal_words(line: str) -> list[list[str]]:
    """Every simple command's words as written (no expansion), `sh -c` scripts included.

    What the lab records of a line, so that tests can tell what a node was asked to run.
    """
    found: list[list[str]] = []
    for _connector, simple in parse(line):
        argv = [w.literal for w in simple.words]
        found.append(argv)
        if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in SHELLS and argv[1] == "-c":
            with contextlib.suppress(ShellError):  # refused again when it runs
                found += literal_words(argv[2])
    return found


SHELLS = ("sh", "bash", "dash")


def describe(line: str) -> dict[str, list[str] | list[list[str]] | str]:
    """What a test reads of a command line a node received: its words (redirections and
    connectors included) and every simple command in it, those of `sh -c` scripts too,
    as written; `refused` when sh would not run it."""
    try:
        program = parse(line)
        commands = literal_words(line)
    except ShellError as exc:
        return {"argv": line.split(), "commands": [], "refused": str(exc)}
    argv: list[str] = []
    for i, (connector, simple) in enumerate(program):
        if i:
            argv.append(connector)
        argv += [w.literal for w in simple.words]
        argv += [redirect_text(r) for r in simple.redirects]
    return {"argv": argv, "commands": commands}


def redirect_text(r: Redirect) -> str:
    default = 0 if r.op in ("<", "<&", "<>") else 1
    return ("" if r.fd == default else str(r.fd)) + r.op + r.target.literal


# --- printf ---------------------------------------------------------------------------

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "r": "\r",
    "v": "\v",
    '"': '"',
    "'": "'",
}
_CONVERSION = re.compile(r"%([-+ #0]*)([0-9]*)(?:\.([0-9]*))?([diouxXcsb%])")


class _Stop(Exception):
    """`\\c` in a %b argument: printf stops writing at once."""


def _backslash(text: str, i: int, in_b: bool) -> tuple[str, int]:
    """The character(s) for the escape at text[i] == "\\"; the index after it."""
    nxt = text[i + 1 : i + 2]
    if nxt in _ESCAPES:
        return _ESCAPES[nxt], i + 2
    if nxt == "c" and in_b:
        raise _Stop
    if nxt.isdigit() and nxt in "01234567":
        # format: \NNN (1-3 octal digits); %b: \0NNN (0 and up to 3 more)
        start = i + 2 if in_b and nxt == "0" else i + 1
        j = start
        while j < len(text) and j < start + 3 and text[j] in "01234567":
            j += 1
        digits = text[start:j]
        return chr(int(digits, 8) & 0xFF) if digits else "\0", j
    if nxt == "":
        return "\\", i + 1
    return "\\" + nxt, i + 2


def _unescape(text: str, in_b: bool) -> tuple[str, bool]:
    """The text with its escapes replaced; True when a `\\c` said to stop there."""
    out: list[str] = []
    i = 0
    while i < len(text):
        j = text.find("\\", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        try:
            piece, i = _backslash(text, j, in_b)
        except _Stop:
            return "".join(out), True
        out.append(piece)
    return "".join(out), False


def _number(arg: str, errors: list[str]) -> int:
    if arg == "":
        return 0
    if arg[0] in "'\"":
        return ord(arg[1]) if len(arg) > 1 else 0
    text = arg.strip(" \t")
    try:
        sign = -1 if text.startswith("-") else 1
        body = text.lstrip("+-")
        if body.lower().startswith("0x"):
            return sign * int(body[2:], 16)
        if body.startswith("0") and len(body) > 1:
            return sign * int(body, 8)
        return sign * int(body, 10)
    except ValueError:
        errors.append(f"printf: {arg}: expected numeric value")
        return 0


class _Conversion(NamedTuple):
    spec: str  # "%" and its flags, width and precision
    conv: str
    flags: str = ""
    width: str = ""
    precision: str | None = None


_BASES = {"d": "d", "i": "d", "u": "d", "o": "o", "x": "x", "X": "X"}


def _integer(c: _Conversion, value: int) -> str:
    """An integer conversion as C's printf writes it, which Python's % does not always:
    a precision drops the 0 flag and, at 0, writes no digit for 0; `%#o` is 010, not
    0o10; `%#x` of 0 is 0, not 0x0."""
    signed = c.conv in "di"
    digits = format(abs(value) if signed else value, _BASES[c.conv])
    sign = "-" if signed and value < 0 else ""
    if signed and not sign:
        sign = "+" if "+" in c.flags else " " if " " in c.flags else ""
    if c.precision is not None:
        wanted = int(c.precision or "0")
        digits = "" if value == 0 and wanted == 0 else digits.zfill(wanted)
    prefix = ""
    if "#" in c.flags:
        if c.conv == "o" and not digits.startswith("0"):
            digits = "0" + digits
        elif c.conv in "xX" and value != 0:
            prefix = "0" + c.conv
    head, width = sign + prefix, int(c.width or "0")
    if "-" in c.flags:
        return (head + digits).ljust(width)
    if "0" in c.flags and c.precision is None:
        return head + digits.zfill(width - len(head))
    return (head + digits).rjust(width)


class _Refused(NamedTuple):
    """Where printf stops with an error: what it wrote until then goes out."""

    message: str
    listed: bool  # joins the conversion errors met before it (else said alone)


_FORMAT_TEXT = re.compile(r"[^\\%]+")


@functools.lru_cache(maxsize=256)
def _format(fmt: str) -> tuple[str | _Conversion | _Refused, ...]:
    """A format as text (escapes done), conversions and a final refusal: read once per
    format, the batch's few formats being printed thousands of times at scale."""
    pieces: list[str | _Conversion | _Refused] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "\\":
            piece, i = _backslash(fmt, i, False)
            pieces.append(piece)
            continue
        if c != "%":
            text = _FORMAT_TEXT.match(fmt, i)
            assert text is not None  # c is neither a backslash nor a %
            pieces.append(text.group())
            i = text.end()
            continue
        m = _CONVERSION.match(fmt, i)
        if m is not None and m.group(4) == "%" and m.end() - i > 2:
            m = None  # `%5%`: only `%%` writes a %
        if m is None:
            if fmt[i + 1 : i + 2] == "*" or "*" in fmt[i : i + 4]:
                pieces.append(_Refused("printf: '*' widths are not emulated by the lab\n", False))
            elif i + 1 == len(fmt):
                pieces.append(_Refused("printf: missing format character", True))
            else:
                bad = re.match(r"%[-+ #0]*[0-9]*(?:\.[0-9]*)?.?", fmt[i:])
                assert bad is not None  # "%" and nothing else matches
                pieces.append(_Refused(f"printf: {bad.group()}: invalid directive", True))
            break
        flags, width, precision, conv = m.groups()
        i = m.end()
        if conv == "%":
            pieces.append("%")
            continue
        pieces.append(
            _Conversion(
                "%" + flags + width + (f".{precision}" if precision is not None else ""),
                conv,
                flags,
                width,
                precision,
            )
        )
    return tuple(pieces)


def printf(args: list[str]) -> tuple[str, str, int]:
    """What `printf FORMAT [ARG...]` writes on stdout and stderr, and its exit status."""
    if not args:
        return "", "printf: usage: printf format [arg ...]\n", 2
    pieces, rest = _format(args[0]), list(args[1:])
    out: list[str] = []
    errors: list[str] = []
    try:
        while True:
            used = 0
            for piece in pieces:
                if type(piece) is str:
                    out.append(piece)
                    continue
                if isinstance(piece, _Refused):
                    # sh's printf: a bad format is a usage error (2), a bad number 1.
                    if not piece.listed:
                        return "".join(out), piece.message, 2
                    errors.append(piece.message)
                    return "".join(out), "".join(e + "\n" for e in errors), 2
                assert isinstance(piece, _Conversion)
                spec, conv = piece.spec, piece.conv
                arg = rest.pop(0) if rest else None
                used += arg is not None
                if conv == "s":
                    out.append((spec + "s") % (arg or ""))
                elif conv == "b":
                    text, stop = _unescape(arg or "", True)
                    out.append((spec + "s") % text)
                    if stop:
                        raise _Stop
                elif conv == "c":
                    out.append((spec + "s") % (arg or "")[:1])
                else:
                    value = _number(arg or "", errors)
                    if conv in "ouxX" and value < 0:
                        value &= (1 << 64) - 1
                    out.append(_integer(piece, value))
            if not rest or used == 0:
                break  # the format is reused while arguments are left
    except _Stop:
        pass
    return "".join(out), "".join(e + "\n" for e in errors), 1 if errors else 0
