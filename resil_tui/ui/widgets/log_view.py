"""One log tab: a bounded buffer, a fast `Log` surface, follow/pause, filter, wrap, save.

Lines arrive through `ingest()` (from the stream worker, or a benchmark's generator) and
only go into the core `LogBuffer`, which is cheap. A timer flushes what is new into the
Textual `Log` with one `write_lines()` every `flush_interval` (per-line writes start a
worker each): that is what keeps the event loop responsive at tens of thousands of lines
per second. The `Log` keeps `display_lines`; the buffer keeps more (`buffer_lines`) for
the filter and for saving.

Following stops when the admin scrolls up (the surface is no longer at its end when a
flush comes); new lines then wait in the buffer and a "+N new lines" bar says how many.
Following resumes with the follow key, a click on the bar, or scrolling back to the end.
The filter hides non-matching lines by rebuilding the surface from the buffer; nothing is
lost, clearing it shows everything again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Log, Static

from resil_tui.core.logbuf import (
    FilterError,
    LineFilter,
    LineLevel,
    LogBuffer,
    classify,
    gap_marker,
    render_for_save,
)

DEFAULT_BUFFER_LINES = 50_000
DEFAULT_DISPLAY_LINES = 10_000
DEFAULT_FLUSH_INTERVAL = 0.075
FILTER_DEBOUNCE = 0.15

LEVEL_STYLES: dict[LineLevel, str] = {
    LineLevel.ERROR: "bold red",
    LineLevel.WARN: "yellow",
    LineLevel.READY: "bold black on green",
    LineLevel.MARKER: "bold magenta",
}


class LogHighlighter(Highlighter):
    """WARN / ERROR / readiness / gap marker lines, and the filter's matches."""

    def __init__(self, readiness: re.Pattern[str] | None = None) -> None:
        self.readiness = readiness
        self.match: re.Pattern[str] | None = None
        self.styles = dict(LEVEL_STYLES)

    def highlight(self, text: Text) -> None:
        plain = text.plain
        style = self.styles.get(classify(plain, self.readiness))
        if style:
            text.stylize(style)
        if self.match is not None:
            for found in self.match.finditer(plain):
                if found.end() > found.start():
                    text.stylize("reverse", found.start(), found.end())


class LogSurface(Log):
    """The `Log` widget; only told apart for CSS and queries."""


class NewLinesBar(Static):
    """ "+N new lines": a click resumes following."""

    def on_click(self, event: events.Click) -> None:
        event.stop()
        for ancestor in self.ancestors:
            if isinstance(ancestor, LogView):
                ancestor.resume()
                return


class LogView(Vertical):
    """A followed stream's view. `source` is a label (node · stream) for the status line."""

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > .log-status { height: 1; color: $foreground 80%; }
    LogView > LogSurface { height: 1fr; }
    LogView > .log-new { height: 1; display: none; background: $accent; color: $text; }
    LogView > .log-new.-shown { display: block; }
    LogView > .log-filter-row { height: auto; display: none; }
    LogView > .log-filter-row.-shown { display: block; }
    LogView .log-filter-error { color: $error; height: auto; }
    """

    class FollowChanged(Message):
        def __init__(self, view: LogView, following: bool) -> None:
            super().__init__()
            self.view = view
            self.following = following

    def __init__(
        self,
        label: str,
        *,
        buffer_lines: int = DEFAULT_BUFFER_LINES,
        display_lines: int = DEFAULT_DISPLAY_LINES,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        readiness: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.buffer = LogBuffer(buffer_lines)
        self.display_lines = display_lines
        self.flush_interval = flush_interval
        self.following = True
        self.pause_reason = ""  # "scroll" (scrolled up) or "key" (follow toggle)
        self.new_lines = 0  # lines (matching the filter) that came while paused
        self.shown_seq = 0  # newest buffer line the surface reflects
        self.filter: LineFilter | None = None
        self.filter_error: FilterError | None = None
        self.wrap = False
        self.state_text = ""  # the stream's state, set by the owner (pane)
        self.flushes = 0
        self._wrap_width = 0
        self._status_shown = ""
        self._new_shown = ""
        self._filter_timer: Timer | None = None
        self._regex = False
        self._case = False
        pattern = None
        if readiness:
            try:
                pattern = re.compile(readiness)
            except re.error:
                pattern = None
        self.highlighter = LogHighlighter(pattern)

    def compose(self) -> ComposeResult:
        yield Static("", classes="log-status", markup=False)
        surface = LogSurface(highlight=True, max_lines=self.display_lines)
        surface.highlighter = self.highlighter
        yield surface
        yield NewLinesBar("", classes="log-new", markup=False)
        with Vertical(classes="log-filter-row"):
            yield Input(
                placeholder="filter: text, or a regular expression (ctrl+r)", classes="log-filter"
            )
            yield Static("", classes="log-filter-error", markup=False)

    def on_mount(self) -> None:
        self._theme_styles()
        self.set_interval(self.flush_interval, self.flush)
        self._update_status()

    def _theme_styles(self) -> None:
        theme = getattr(self.app, "current_theme", None)
        if theme is None:
            return
        styles = self.highlighter.styles
        if getattr(theme, "error", None):
            styles[LineLevel.ERROR] = f"bold {theme.error}"
        if getattr(theme, "warning", None):
            styles[LineLevel.WARN] = str(theme.warning)
        if getattr(theme, "success", None):
            styles[LineLevel.READY] = f"bold black on {theme.success}"
        if getattr(theme, "accent", None):
            styles[LineLevel.MARKER] = f"bold {theme.accent}"

    @property
    def surface(self) -> LogSurface:
        return self.query_one(LogSurface)

    # --- input ------------------------------------------------------------------------------

    def ingest(self, lines: list[str]) -> None:
        """New stream lines; cheap (the timer shows them)."""
        if not lines:
            return
        self.buffer.extend(lines)
        if not self.following:
            if self.filter is None:
                self.new_lines += len(lines)
            else:
                search = self.filter.compiled.search
                self.new_lines += sum(1 for line in lines if search(line))

    def ingest_marker(self, text: str) -> None:
        """A gap marker: kept through filters."""
        self.buffer.append_marker(text)
        if not self.following:
            self.new_lines += 1

    # --- flushing ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Show what is new (when following) and refresh the status/new-lines bars."""
        if not self.is_mounted:
            return
        surface = self.surface
        if self.following and not surface.is_vertical_scroll_end and self.shown_seq:
            # Only the admin moves the view away from the end: pause.
            self.pause("scroll")
        elif (
            not self.following
            and self.pause_reason == "scroll"
            and surface.is_vertical_scroll_end
            and surface.max_scroll_y > 0
        ):
            self.resume()
        if self.following and self.buffer.last_seq > self.shown_seq:
            self._write_new(surface)
        self._update_bars()

    def _selected(self, after: int) -> list[str]:
        pairs = self.buffer.view(self.filter, after=after)
        if len(pairs) > self.display_lines:
            pairs = pairs[-self.display_lines :]
        return [line for _, line in pairs]

    def _write_new(self, surface: LogSurface) -> None:
        lines = self._selected(self.shown_seq)
        missed = self.buffer.missed(self.shown_seq) if self.shown_seq else 0
        if missed:
            lines.insert(0, gap_marker(f"{missed} lines not shown (buffer limit)", datetime.now()))
        self.shown_seq = self.buffer.last_seq
        if lines:
            surface.write_lines(self._wrapped(lines), scroll_end=True)
            self.flushes += 1

    def rebuild(self) -> None:
        """Show the buffer again from scratch (filter or wrap changed)."""
        surface = self.surface
        surface.clear()
        self.shown_seq = self.buffer.last_seq
        lines = self._selected(0)
        if lines:
            surface.write_lines(self._wrapped(lines), scroll_end=self.following)
        if self.following:
            surface.scroll_end(animate=False, immediate=True, x_axis=False)
        self.new_lines = 0
        self._update_bars()

    def _wrapped(self, lines: list[str]) -> Iterable[str]:
        if not self.wrap:
            return lines
        width = max(20, (self.surface.size.width or 80) - 2)
        self._wrap_width = width
        out: list[str] = []
        for line in lines:
            if len(line) <= width:
                out.append(line)
                continue
            out.append(line[:width])
            rest = line[width:]
            while rest:
                out.append("  " + rest[: width - 2])
                rest = rest[width - 2 :]
        return out

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self.is_mounted and abs(event.size.width - 2 - self._wrap_width) > 1:
            self.call_after_refresh(self.rebuild)

    # --- follow / pause ---------------------------------------------------------------------

    def pause(self, reason: str = "key") -> None:
        if not self.following:
            return
        self.following = False
        self.pause_reason = reason
        self.new_lines = 0
        self.post_message(self.FollowChanged(self, False))
        self._update_bars()

    def resume(self) -> None:
        if self.following:
            return
        self.following = True
        self.pause_reason = ""
        self.new_lines = 0
        surface = self.surface
        self._write_new(surface)
        surface.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.FollowChanged(self, True))
        self._update_bars()

    def toggle_follow(self) -> None:
        if self.following:
            self.pause("key")
        else:
            self.resume()

    # --- filter -----------------------------------------------------------------------------

    @property
    def filter_input(self) -> Input:
        return self.query_one(".log-filter", Input)

    def open_filter(self) -> None:
        self.query_one(".log-filter-row").add_class("-shown")
        self.filter_input.focus()

    def close_filter(self, clear: bool) -> None:
        if clear:
            self.filter_input.value = ""
            self.set_filter("")
        self.query_one(".log-filter-row").remove_class("-shown")
        self.surface.focus()

    def toggle_regex(self) -> None:
        self._regex = not self._regex
        self.set_filter(self.filter_input.value)

    def toggle_case(self) -> None:
        self._case = not self._case
        self.set_filter(self.filter_input.value)

    def set_filter(self, pattern: str) -> None:
        compiled = LineFilter.compile(pattern, self._regex, self._case)
        error_bar = self.query_one(".log-filter-error", Static)
        if isinstance(compiled, FilterError):
            self.filter_error = compiled
            error_bar.update(compiled.message)
            return  # keep the last valid filter while the admin is typing
        self.filter_error = None
        error_bar.update("")
        new = None if compiled.empty else compiled
        if new == self.filter:
            return
        self.filter = new
        self.highlighter.match = new.compiled if new is not None else None
        self.rebuild()

    @on(Input.Changed, ".log-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        timer = self._filter_timer
        if timer is not None:
            timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE, lambda: self.set_filter(value))

    @on(Input.Submitted, ".log-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        self.surface.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.filter_input.has_focus:
            event.stop()
            self.close_filter(clear=True)

    # --- wrap / save / copy -----------------------------------------------------------------

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.rebuild()

    def save(self, path: Path) -> int:
        """Write the whole buffer (not only the filtered view); returns the line count."""
        lines = self.buffer.lines()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_for_save(lines), encoding="utf-8")
        return len(lines)

    def selected_text(self) -> str | None:
        selection = self.screen.selections.get(self.surface)
        if selection is None:
            return None
        got = self.surface.get_selection(selection)
        return got[0] if got else None

    # --- bars -------------------------------------------------------------------------------

    def _update_bars(self) -> None:
        new_bar = self.query_one(".log-new", Static)
        if self.following:
            text = ""
        else:
            text = f"⏸ paused · +{self.new_lines:,} new lines · press f or click here to follow"
        if text != self._new_shown:
            self._new_shown = text
            new_bar.update(text)
            new_bar.set_class(bool(text), "-shown")
        self._update_status()

    def _update_status(self) -> None:
        parts = [("● following" if self.following else "⏸ paused"), self.label]
        if self.state_text:
            parts.append(self.state_text)
        parts.append(f"{len(self.buffer):,} lines")
        if self.filter is not None:
            mode = "regex" if self.filter.regex else "text"
            case = "case" if self.filter.case_sensitive else "any case"
            parts.append(f"filter {mode}/{case}: {self.filter.pattern!r}")
        elif self._regex or self._case:
            parts.append(
                f"filter mode: {'regex' if self._regex else 'text'}{', case' if self._case else ''}"
            )
        if self.wrap:
            parts.append("wrap")
        text = " · ".join(parts)
        if text != self._status_shown:
            self._status_shown = text
            self.query_one(".log-status", Static).update(text)
