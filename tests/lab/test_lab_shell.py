"""The lab reads a command line as a real shell does (lab/shell.py), checked against dash.

Every line here runs twice: through the lab's `run_command` on a node (what the in-process
server and the sshd tier's dispatcher both call) and through `/bin/sh -c` (dash on
Debian, what sshd would run). Lines made of shell builtins must give the same stdout,
stderr and exit status in both.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resil_tui.lab import shell
from resil_tui.lab.emulation import run_command
from resil_tui.lab.spec import LabSpec, LabTiming
from resil_tui.lab.world import LabWorld
from resil_tui.remote import commands as C

NODE = "demo.xivo.master"


class BufferIO:
    is_pty = False

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()

    async def read(self, n: int = -1) -> bytes:
        return b""

    async def readline(self) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        self.out += data

    def write_err(self, data: bytes) -> None:
        self.err += data

    async def drain(self) -> None:
        return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> LabWorld:
    return LabWorld.create(tmp_path_factory.mktemp("lab"), LabSpec.demo(), LabTiming.fast())


def in_lab(world: LabWorld, line: str, node: str = NODE) -> tuple[str, str, int]:
    io = BufferIO()
    code = asyncio.run(run_command(world, node, line, io))
    return io.out.decode(), io.err.decode(), code


def in_dash(line: str) -> tuple[str, str, int]:
    p = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30)
    return p.stdout, p.stderr, p.returncode


SAME_AS_DASH = [
    "printf '%s\\n' a b c",  # the format is reused while arguments are left
    "printf '%d|%s\\n'",  # missing arguments: 0 and ""
    "false; printf '%s %s %s %s\\n' \"$?\" '$?' $? ${?}",
    'false;printf x;printf "[$?]"',  # no blanks around ;
    "true&&printf a||printf b;false&&printf c||printf d",
    "false || false && printf never; printf '%d\\n' $?",
    "printf '%5s|%-4s|%.2s|%03d|%x|%o|%c|%%\\n' ab cd xyz 7 255 8 word",
    "printf out; printf err >&2; printf both 2>&1; printf gone >/dev/null; printf e2 1>&2",
    "printf '%s' x>&2",  # `x>&2`: a word, then a redirection
    "printf 'a\\tb\\\\c\\101\\n'",
    "printf '%s\\n' '|' ';' '&&' '>&2' '#' '$(reboot)' '`id`'",  # quoted: just words
    'printf "%s\\n" "a  b" "c\\"d" "e\\$f" "g\\\\h" "i\\j"',
    "printf x # a comment; printf y",
    "printf a\\\nb",  # a line continuation
    "printf 'one'\nprintf 'two'",  # a newline separates commands
    "sh -c 'false; printf \"[%d]\" \"$?\"'; printf '[%d]' $?",
    "sh -c 'exit 3'; printf '%d' $?",
    "exit 4; printf never",
    "printf ''; printf \"\"",
    ": ; printf '%d' $?",
    "echo a b  c; echo; echo -n x",
    "printf '%s\\n' ~ ~/x '~'",
    # The end of a line ends its last command, as a newline does (not as a second `;`).
    "printf a;",
    "printf a ; ",
    "printf a; # done",
    "sh -c ''; printf '[%d]' $?",
    "sh -c '# only a comment'; printf '[%d]' $?",
    "sh -c 'printf a;'; printf '[%d]' $?",
    # A newline (or blank lines) after `&&` or `||`: the list goes on on the next line.
    "printf a &&\nprintf b",
    "false ||\n\nprintf b",
    "exit 300; printf never",
    "printf '%05.3d|%.0d|%5.0d|%-5.0d|%+.0d|% .0d|%.d|%#x|%#o|%.0x|%+5.0d|\\n' 5 0 0 0 0 0 0 0 0 0",
    "printf '%#o|%#x|%#X|%+d|% d|%-+5d|%08.3x|%-08d|\\n' 8 255 255 3 3 -3 255 7",
]

# Same stdout and exit status as dash (the messages on stderr are worded by each).
SAME_OUTPUT_AND_STATUS_AS_DASH = [
    "exit 3x; printf after",  # an illegal number ends the shell too
    "sh -c 'exit -1; printf a'; printf '[%d]' $?",
    "printf '%q'",
    "printf 'a%5%b'",
    "printf 'a%'",
    "printf '%d|' 1 x 3",  # a bad number: 1, and the rest still written
]


@pytest.mark.parametrize("line", SAME_OUTPUT_AND_STATUS_AS_DASH)
def test_same_output_and_status_as_dash(world: LabWorld, line: str) -> None:
    out, err, code = in_lab(world, line)
    d_out, d_err, d_code = in_dash(line)
    assert (out, code) == (d_out, d_code)
    assert bool(err) == bool(d_err)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flags=st.lists(st.sampled_from("-+ #0"), max_size=3).map("".join),
    width=st.sampled_from(["", "1", "5", "12"]),
    precision=st.sampled_from([None, "", "0", "1", "4"]),
    conv=st.sampled_from("diouxX"),
    value=st.sampled_from(["0", "1", "7", "8", "255", "-1", "-42", "4096"]),
)
def test_integer_conversions_are_dash_s(
    world: LabWorld, flags: str, width: str, precision: str | None, conv: str, value: str
) -> None:
    spec = "%" + flags + width + ("" if precision is None else "." + precision) + conv
    line = shlex.join(["printf", f"[{spec}]", value])
    assert in_lab(world, line) == in_dash(line)


def test_a_blank_line_on_a_kept_shell_does_not_end_it(world: LabWorld) -> None:
    lab, dash = sh_stdin_in_both(world, b"printf a\n\nprintf b\n")
    assert lab[:2] == dash[:2] == (b"ab", 0)


@pytest.mark.parametrize("line", SAME_AS_DASH)
def test_same_as_dash(world: LabWorld, line: str) -> None:
    # HOME is /root for the lab's root, and for the test runner (root in CI) too.
    if "~" in line and Path.home() != Path("/root"):
        pytest.skip("the runner's HOME is not /root")
    assert in_lab(world, line) == in_dash(line)


def test_the_batch_construct_runs_as_in_dash(world: LabWorld) -> None:
    # Programs that exist only in the lab are replaced by builtins here; the batch's own
    # construct (markers, $?, >&2, quoting) is what is compared.
    parts = [
        C.Command("a", ("printf", "%s", "no newline"), mutates=False),
        C.Command("b", ("false",), mutates=False),
        C.Command("c", ("printf", "%s\\n", "'$?' \"$?\""), mutates=False),
    ]
    batch = C.batch(parts)
    assert in_lab(world, batch.command.line) == in_dash(batch.command.line)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("printf x | cat", "pipelines"),
        ("printf x &", "background"),
        ("printf $(reboot)", "command substitution"),
        ("printf `id`", "command substitution"),
        ("if true; then printf x; fi", "compound"),
        ("printf x > /etc/passwd", "not emulated"),
        ("printf 'unterminated", "Unterminated"),
        ("printf x &&", "end of file"),
        ("; printf x", "unexpected"),
        ("(printf x)", "subshells"),
        # sh reads `&>` as `&` then `>` (bash's `&>` is not sh's): a background job.
        ("printf a &>/dev/null", "background"),
        ('sh -c \'printf "%s|" "$0" "$1"\' x y', "arguments after -c"),
    ],
)
def test_what_is_not_emulated_is_refused_whole(world: LabWorld, line: str, why: str) -> None:
    out, err, code = in_lab(world, line)
    assert code == 2 and why in err
    assert "x" not in out  # nothing of the line ran (a file redirection: only that command)


def test_the_lab_records_every_command_of_a_line(world: LabWorld) -> None:
    batch = C.batch([C.cat("/etc/xivo/ha.conf"), C.test_exists("/root/.ssh/xivo_id_rsa")])
    before = len(world.commands(NODE))
    in_lab(world, batch.command.line)
    in_lab(world, "cat /etc/xivo/ha.conf ; test -e /x 2>/dev/null")
    first, second = world.commands(NODE)[before:]
    assert first["argv"] == list(batch.command.argv) and first["line"] == batch.command.line
    ran = [c for c in first["commands"] if c[0] not in ("printf", "false")]  # markers, probe
    assert ran == [
        list(batch.command.argv),
        ["cat", "/etc/xivo/ha.conf"],
        ["test", "-e", "/root/.ssh/xivo_id_rsa"],
    ]
    assert second["argv"] == ["cat", "/etc/xivo/ha.conf", ";", "test", "-e", "/x", "2>/dev/null"]
    assert second["commands"] == [["cat", "/etc/xivo/ha.conf"], ["test", "-e", "/x"]]


def test_a_batch_part_reads_as_the_command_alone(world: LabWorld) -> None:
    parts = [
        C.tail_files(["/etc/xivo/ha.conf", "/etc/cron.d/xivo-ha-master", "/nope"], 60),
        C.xivo_service_status(all=True),
        C.test_exists("/root/.ssh/xivo_id_rsa"),
        C.cat("/nope"),
    ]
    from resil_tui.core.batch import PartOutput, split_batch

    batch = C.batch(parts)
    out, err, _ = in_lab(world, batch.command.line)
    split = split_batch(out, err, batch.nonce, len(parts))
    alone = [in_lab(world, p.line) for p in parts]
    assert list(split.parts) == [PartOutput(o, e, c) for o, e, c in alone]


def test_words_only_is_a_server_without_a_shell(world: LabWorld) -> None:
    world.set_node_flag(NODE, "words_only", True)
    try:
        # No shell: `sh -c` runs as words, printf is no program, `;` only as a word.
        _, err, code = in_lab(world, "sh -c 'printf x'")
        assert code == 127 and "printf: command not found" in err
        out, _, code = in_lab(world, "cat /etc/xivo/ha.conf ; test -e /nope")
        assert code == 1 and '"node_type"' in out
        out, err, _ = in_lab(world, "cat /etc/xivo/ha.conf;")
        assert "No such file" in err  # `ha.conf;` is one word to a word splitter
    finally:
        world.set_node_flag(NODE, "words_only", False)
    out, _, code = in_lab(world, "printf x; printf y")
    assert (out, code) == ("xy", 0)


# --- generated lines ------------------------------------------------------------------------

text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)


def double_quoted(s: str) -> str:
    return '"' + re.sub(r'([\\"$`])', r"\\\1", s) + '"'


word = st.one_of(
    text.map(shlex.quote),
    text.map(double_quoted),
    st.sampled_from(['"$?"', "'$?'", "$?", "${?}", '"x$?y"', "''"]),
)
number = st.one_of(st.integers(-999, 999).map(str), st.sampled_from(["$?", '"$?"', "${?}"]))
CONVERSIONS = {"%s": word, "%5s": word, "%-3s": word, "%.2s": word, "%d": number, "%03d": number}
LITERALS = ["\\n", "\\t", "%%", "x", " ", "[", "]", "\\\\", "E 0", "B"]


@st.composite
def printf_line(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from([*CONVERSIONS, *LITERALS]), min_size=1, max_size=6))
    fmt = "".join(pieces)
    rounds = draw(st.integers(0, 2))
    args = [draw(CONVERSIONS[p]) for _ in range(rounds) for p in pieces if p in CONVERSIONS]
    quote = draw(st.sampled_from([shlex.quote, double_quoted]))
    return " ".join(["printf", quote(fmt), *args])


simple = st.one_of(
    printf_line(),
    st.sampled_from(["true", "false", ":", "echo", "echo a b", "exit 3"]),
    st.lists(st.text(st.sampled_from("abc xyz%"), min_size=1, max_size=4), max_size=3).map(
        lambda ws: shlex.join(["echo", *ws])
    ),
)
redirect = st.sampled_from(["", " >&2", " 2>&1", ">/dev/null", " 2>/dev/null", " 1>&2"])
separator = st.sampled_from([" ; ", ";", " && ", "&&", " || ", "||", "\n"])


@st.composite
def script(draw: st.DrawFn, depth: int = 0) -> str:
    commands = draw(st.lists(st.tuples(simple, redirect), min_size=1, max_size=4))
    parts = [c + r for c, r in commands]
    if depth == 0 and draw(st.booleans()):
        parts.append("sh -c " + shlex.quote(draw(script(depth=1))))
    line = parts[0]
    for p in parts[1:]:
        line += draw(separator) + p
    return line


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script())
def test_generated_lines_same_as_dash(world: LabWorld, line: str) -> None:
    assert in_lab(world, line) == in_dash(line)


def test_printf_alone() -> None:
    assert shell.printf(["%s-%d\\n", "a", "1", "b"]) == ("a-1\nb-0\n", "", 0)
    out, err, code = shell.printf(["%d", "abc"])
    assert (out, code) == ("0", 1) and "abc" in err
    assert shell.printf([])[2] == 2


# --- the whole-word path of the tokenizer reads every line as the piece-by-piece one ------

_SHELL_CHARS = st.sampled_from(
    [
        *"ab2 \t\n;&|<>()'\"\\$`#~?{}-=/%",
        "'x y'",
        '"a b"',
        "2>",
        ">&2",
        "&&",
        "$?",
        "\\n",
        '"$?"',
        '"$HOME"',
        '"$1x"',
    ]
)


def _tokens_or_error(line: str, whole_words: bool) -> object:
    try:
        return shell._tokens(line, whole_words=whole_words)
    except shell.ShellError as exc:
        return ("refused", str(exc))


@settings(max_examples=400, deadline=None)
@given(st.lists(_SHELL_CHARS, max_size=30).map("".join))
def test_whole_words_read_as_piece_by_piece(line: str) -> None:
    assert _tokens_or_error(line, True) == _tokens_or_error(line, False)


def test_whole_words_read_the_batched_reads_as_piece_by_piece() -> None:
    batch = C.batch([C.tail_files(["/etc/xivo/ha.conf"], 60), C.xivo_service_status(all=True)])
    inner = shell.parse(batch.command.line)[0][1].words[2].literal
    assert shell._WHOLE_WORD.match(inner) is not None  # the path under test is taken
    for line in (batch.command.line, inner):
        assert shell._tokens(line, whole_words=True) == shell._tokens(line, whole_words=False)


class LinesIO(BufferIO):
    """A shell's stdin that a client writes a line at a time."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._lines = data.splitlines(keepends=True)

    async def readline(self) -> bytes:
        return self._lines.pop(0) if self._lines else b""


def test_a_shell_reading_its_stdin_runs_as_dash(world: LabWorld) -> None:
    # What a kept shell (remote/read_shell.py) is sent, line by line: the readiness check,
    # reads with their end markers ($? carried from line to line), then `exit` ends it.
    from resil_tui.remote import read_shell

    nonce = "0123456789abcdef0123456789abcdef"
    reads = [
        C.Command("a", ("printf", "%s", "no newline"), mutates=False),
        C.Command("b", ("false",), mutates=False),
        C.Command("c", ("printf", "%s\\n", "'$?' \"$?\""), mutates=False),
    ]
    script = read_shell.ready_line(nonce)
    script += b"".join(read_shell.request_line(r, nonce) for r in reads)
    script += b"false\nexit\n" + read_shell.request_line(reads[0], nonce)  # never runs
    io = LinesIO(script)
    code = asyncio.run(run_command(world, NODE, "sh", io))
    dash = subprocess.run(["/bin/sh"], input=script, capture_output=True, timeout=30)
    assert (io.out.decode(), io.err.decode(), code) == (
        dash.stdout.decode(),
        dash.stderr.decode(),
        dash.returncode,
    )
    assert code == 1 and io.out.count(b" Z ") == len(reads)


def sh_stdin_in_both(
    world: LabWorld, script: bytes
) -> tuple[tuple[bytes, int, bytes], tuple[bytes, int, bytes]]:
    """(stdout, status, stderr) of `sh` reading `script` on stdin, in the lab and in dash."""
    io = LinesIO(script)
    code = asyncio.run(run_command(world, NODE, "sh", io))
    dash = subprocess.run(["/bin/sh"], input=script, capture_output=True, timeout=30)
    return (bytes(io.out), code, bytes(io.err)), (dash.stdout, dash.returncode, dash.stderr)


def test_a_syntax_error_read_from_stdin_ends_the_shell_as_in_dash(world: LabWorld) -> None:
    lab, dash = sh_stdin_in_both(world, b"printf a\nprintf 'unterminated\nprintf never\n")
    assert lab[:2] == dash[:2] == (b"a", 2)
    assert lab[2] and dash[2]
