"""One log tab: a bounded buffer, a surface that draws only the rows on screen, follow/pause,
search, filter, level, repeats, wrap, save.

Lines arrive through `ingest()` (the stream worker, or a benchmark) into the core
`LogBuffer`, which is cheap. The surface (`LogSurface`) holds no copy of them: it draws the
rows in view straight from the buffer, through the view's `LineIndex` (core/log_display.py)
and `display_text` (one timestamp, the message first), so a follow at 100,000 lines/s
costs a few numbers per timer tick (`flush_interval`) whatever the rate, and
`display_lines` bounds how far back the surface lets the admin scroll.

Following stops when the admin scrolls up (the surface is no longer at its end when a
flush comes) or presses the follow key; the rows then stay where they are (the surface
reads a frozen copy of the buffer while paused, so lines pushed out of the bound do not
slide the view) and a "+N new lines" bar says how many came. Following resumes with the
follow key, a click on the bar, or scrolling back to the end.

Like `less +F` and lnav: `/` searches (n / N, "match 3 of 37"), the filter (`&`) hides
what does not match, the level toggle keeps WARN / ERROR only, repeated lines collapse to
one with "×37", and the readiness line is one key away. Nothing the view hides is lost:
save writes the whole buffer, raw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Static

from resil_tui.core.log_display import LineIndex, ViewOptions, display_text
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
    """WARN / ERROR / readiness / gap marker lines, and the search's or filter's matches."""

    def __init__(self, readiness: re.Pattern[str] | None = None) -> None:
        self.readiness = readiness
        self.match: re.Pattern[str] | None = None
        self.styles = dict(LEVEL_STYLES)

    def highlight_raw(self, text: Text, raw: str) -> None:
        style = self.styles.get(classify(raw, self.readiness))
        if style:
            text.stylize(style)
        self.highlight(text)

    def highlight(self, text: Text) -> None:
        if self.match is not None:
            for found in self.match.finditer(text.plain):
                if found.end() > found.start():
                    text.stylize("reverse", found.start(), found.end())


class LogSurface(ScrollView, can_focus=True):
    """The rows of a `LogView`, drawn from its buffer on demand (nothing is copied)."""

    DEFAULT_CSS = """
    LogSurface { background: $surface; color: $foreground; }
    LogSurface:focus { background-tint: $foreground 5%; }
    """

    def __init__(self, view: LogView) -> None:
        super().__init__()
        self.view = view
        self._cache: LRUCache[tuple[int, int, int], Strip] = LRUCache(1024)
        self._width = 0
        self._rows: list[tuple[int, int]] | None = None  # wrap: (entry, part) per row

    @property
    def allow_select(self) -> bool:
        return True

    # --- geometry ---------------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Rows the surface holds now (wrapped rows count each)."""
        return len(self._rows) if self._rows is not None else self.view.entry_count

    def update(self, widest: int = 0) -> None:
        """The entries changed (new lines, options): resize; redraw what is visible."""
        view = self.view
        if view.wrap:
            width = max(20, (self.size.width or 80) - 1)
            rows: list[tuple[int, int]] = []
            for entry in range(view.entry_count):
                parts = max(1, -(-cell_len(view.entry_text(entry)) // width))
                rows.extend((entry, part) for part in range(parts))
            self._rows = rows
            self._width = width
        else:
            self._rows = None
            self._width = max(self._width, widest)
        self._cache.clear()
        self.virtual_size = Size(self._width, self.line_count)
        self.refresh()

    def clear_cache(self) -> None:
        self._cache.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # --- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        rich_style = self.rich_style
        if row >= self.line_count:
            return Strip.blank(width, rich_style)
        strip = self._row_strip(row, rich_style)
        if self._rows is None:
            strip = strip.crop_extend(scroll_x, scroll_x + width, rich_style)
        else:
            strip = strip.extend_cell_length(width, rich_style)
        return strip.apply_offsets(scroll_x, row)

    def _row_strip(self, row: int, rich_style: Style) -> Strip:
        view = self.view
        entry, part = self._rows[row] if self._rows is not None else (row, 0)
        selection = self.text_selection
        key = (view.entry_seq(entry), part, view.generation)
        if selection is None and key in self._cache:
            return self._cache[key]
        text = Text(view.entry_text(entry), no_wrap=True, end="")
        text.stylize(rich_style)
        view.style_entry(entry, text)
        if self._rows is not None:
            text = text[part * self._width : (part + 1) * self._width]
        if selection is not None and (span := selection.get_span(row)) is not None:
            start, end = span
            style = self.screen.get_component_rich_style("screen--selection")
            text.stylize(style, start, len(text) if end == -1 else end)
        segments = [Segment(seg.text, seg.style) for seg in text.render(self.app.console)]
        strip = Strip(segments, cell_len(text.plain))
        if selection is None:
            self._cache[key] = strip
        return strip

    # --- what tests and copy read ------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The text of every row (O(rows): tests and copy, not drawing)."""
        view = self.view
        texts = [view.entry_text(e) for e in range(view.entry_count)]
        if self._rows is None:
            return texts
        width = self._width
        return [texts[e][p * width : (p + 1) * width] for e, p in self._rows]

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self.lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.clear_cache()

    # --- the admin scrolling up pauses the follow (a program's scroll does not) ------------

    def _user_scrolls_up(self) -> None:
        self.view.pause("scroll")

    def action_scroll_up(self) -> None:
        self._user_scrolls_up()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._user_scrolls_up()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._user_scrolls_up()
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._user_scrolls_up()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        view = self.view
        if view.following and self.is_vertical_scrollbar_grabbed and new < old:
            view.pause("scroll")
        elif (
            not view.following
            and view.pause_reason == "scroll"
            and new > old
            and new >= self.max_scroll_y > 0
        ):
            view.resume()

    def scroll_to_row(self, row: int) -> None:
        """Put `row` in the middle of the view."""
        target = max(0, row - self.size.height // 2)
        self.scroll_to(y=target, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        if self.view.wrap:
            self.update()


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
        keep_service: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.buffer = LogBuffer(buffer_lines)
        self.display_lines = display_lines
        self.flush_interval = flush_interval
        self.keep_service = keep_service  # several services in one stream: name each line
        self.following = True
        self.pause_reason = ""  # "scroll" (scrolled up) or "key" (follow toggle, a jump)
        self.new_lines = 0  # lines (matching the filter) that came while paused
        self.shown_seq = 0  # newest buffer line the surface reflects
        self.filter: LineFilter | None = None
        self.filter_error: FilterError | None = None
        self.levels_only = False
        self.collapse = False
        self.wrap = False
        self.state_text = ""  # the stream's state, set by the owner (pane)
        self.flushes = 0
        self.generation = 0  # bumped when what an entry looks like changes (cache key)
        self.search: re.Pattern[str] | None = None
        self.search_text = ""
        self.matches: list[int] = []  # entries matching the search
        self.match_at = -1
        self.line_colour: Callable[[str], str | None] | None = None  # merged view: per node
        self.index = LineIndex(markers=self.buffer.is_marker)
        self._frozen: tuple[int, list[str]] | None = None  # (first seq, lines) while paused
        self._widest = 0
        self._status_shown = ""
        self._new_shown = ""
        self._filter_timer: Timer | None = None
        self._regex = False
        self._case = False
        self._input_mode = "filter"  # what the input row is for: "filter" or "search"
        pattern = None
        if readiness:
            try:
                pattern = re.compile(readiness)
            except re.error:
                pattern = None
        self.highlighter = LogHighlighter(pattern)

    def compose(self) -> ComposeResult:
        yield Static("", classes="log-status", markup=False)
        yield LogSurface(self)
        yield NewLinesBar("", classes="log-new", markup=False)
        with Vertical(classes="log-filter-row"):
            yield Input(
                placeholder="filter: text, or a regular expression (ctrl+r)", classes="log-filter"
            )
            yield Static("", classes="log-filter-error", markup=False)

    def on_mount(self) -> None:
        if not self.display:
            return  # being removed as it mounts (a console quitting): see Pane.on_mount
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

    # --- the source the surface reads -------------------------------------------------------

    def _source(self) -> tuple[int, Sequence[str]]:
        """(first seq, lines) the entries index: the live buffer, or its frozen copy."""
        if self._frozen is not None:
            return self._frozen
        return self.buffer.first_seq, self.buffer.lines_view()

    def _raw(self, seq: int) -> str:
        first, lines = self._source()
        index = seq - first
        return lines[index] if 0 <= index < len(lines) else ""

    @property
    def entry_count(self) -> int:
        return min(len(self.index), self.display_lines)

    def _entry_offset(self) -> int:
        return max(0, len(self.index) - self.display_lines)

    def entry_seq(self, entry: int) -> int:
        return self.index.seq(entry + self._entry_offset())

    def entry_raw(self, entry: int) -> str:
        return self._raw(self.entry_seq(entry))

    def entry_text(self, entry: int) -> str:
        raw = self.entry_raw(entry)
        text = display_text(raw, keep_service=self.keep_service)
        count = self.index.count(entry + self._entry_offset())
        return f"{text}  ×{count}" if count > 1 else text

    def style_entry(self, entry: int, text: Text) -> None:
        raw = self.entry_raw(entry)
        self.highlighter.highlight_raw(text, raw)
        if self.line_colour is not None:
            tag, _, _rest = raw.partition(" │ ")
            colour = self.line_colour(tag)
            if colour:
                start = text.plain.find(tag)
                if start >= 0:
                    text.stylize(f"bold {colour}", start, start + len(tag))

    # --- input ------------------------------------------------------------------------------

    def ingest(self, lines: list[str]) -> None:
        """New stream lines; cheap (the timer shows them)."""
        if not lines:
            return
        self.buffer.extend(lines)
        self._widest = max(self._widest, max(map(len, lines)))
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
        if self.following and self.buffer.last_seq > self.shown_seq:
            self._show_new(surface)
        self._update_bars()

    def _show_new(self, surface: LogSurface) -> None:
        missed = self.buffer.missed(self.shown_seq) if self.shown_seq else 0
        if missed and not self.index.options.everything:
            # Lines the view never indexed left the buffer: say so where they were.
            self.buffer.append_marker(
                gap_marker(f"{missed} lines not shown (buffer limit)", datetime.now())
            )
        self.index.forget_before(self.buffer.first_seq)
        self.index.extend_to(self.buffer.last_seq, self.buffer.first_seq, self.buffer.lines_after)
        self.shown_seq = self.buffer.last_seq
        surface.update(self._widest + 1)
        # After the refresh that applies the new size (then the end is where it should be).
        surface.scroll_end(animate=False, x_axis=False)
        self.flushes += 1

    def rebuild(self) -> None:
        """Index the source again from scratch (filter, level, repeats or wrap changed)."""
        self.index = LineIndex(options=self._options(), markers=self.buffer.is_marker)
        first, lines = self._source()
        self.index.reset(first, lines)
        if self._frozen is None:
            self.shown_seq = self.buffer.last_seq
        self.generation += 1
        surface = self.surface
        surface.update(self._widest + 1)
        if self.following:
            surface.scroll_end(animate=False, x_axis=False)
        self.new_lines = 0
        self._research()
        self._update_bars()

    def _options(self) -> ViewOptions:
        keep = self.filter.compiled.search if self.filter is not None else None
        return ViewOptions(
            keep=(lambda line: keep(line) is not None) if keep is not None else None,
            levels_only=self.levels_only,
            collapse=self.collapse,
        )

    # --- follow / pause ---------------------------------------------------------------------

    def pause(self, reason: str = "key") -> None:
        if not self.following:
            return
        self.following = False
        self.pause_reason = reason
        self.new_lines = 0
        # The rows stay put: the surface reads a copy while new lines push old ones out.
        self._frozen = (self.buffer.first_seq, self.buffer.lines())
        self.post_message(self.FollowChanged(self, False))
        self._update_bars()

    def resume(self) -> None:
        if self.following:
            return
        self.following = True
        self.pause_reason = ""
        self.new_lines = 0
        self._frozen = None
        self.rebuild()
        self.post_message(self.FollowChanged(self, True))
        self._update_bars()

    def toggle_follow(self) -> None:
        if self.following:
            self.pause("key")
        else:
            self.resume()

    # --- filter (and the input row, shared with the search) ----------------------------------

    @property
    def filter_input(self) -> Input:
        return self.query_one(".log-filter", Input)

    def open_filter(self) -> None:
        self._open_input("filter", self.filter.pattern if self.filter else "")

    def open_search(self) -> None:
        self._open_input("search", self.search_text)

    def _open_input(self, mode: str, value: str) -> None:
        self._input_mode = mode
        box = self.filter_input
        box.placeholder = (
            "search: text, or a regular expression (ctrl+r); enter: first match, n / N"
            if mode == "search"
            else "filter: text, or a regular expression (ctrl+r)"
        )
        with box.prevent(Input.Changed):
            box.value = value
        self.query_one(".log-filter-row").add_class("-shown")
        box.focus()

    def close_filter(self, clear: bool) -> None:
        if clear:
            with self.filter_input.prevent(Input.Changed):
                self.filter_input.value = ""
            if self._input_mode == "search":
                self.set_search("")
            else:
                self.set_filter("")
        self.query_one(".log-filter-row").remove_class("-shown")
        self.surface.focus()

    def toggle_regex(self) -> None:
        self._regex = not self._regex
        self._apply_input(self.filter_input.value)

    def toggle_case(self) -> None:
        self._case = not self._case
        self._apply_input(self.filter_input.value)

    def _apply_input(self, value: str) -> None:
        if self._input_mode == "search":
            self.set_search(value)
        else:
            self.set_filter(value)

    def _compile(self, pattern: str) -> LineFilter | None:
        compiled = LineFilter.compile(pattern, self._regex, self._case)
        error_bar = self.query_one(".log-filter-error", Static)
        if isinstance(compiled, FilterError):
            self.filter_error = compiled
            error_bar.update(compiled.message)
            raise ValueError(compiled.message)  # keep the last valid one while typing
        self.filter_error = None
        error_bar.update("")
        return None if compiled.empty else compiled

    def set_filter(self, pattern: str) -> None:
        try:
            new = self._compile(pattern)
        except ValueError:
            return
        if new == self.filter:
            return
        self.filter = new
        self.highlighter.match = new.compiled if new is not None else self.search
        self.rebuild()

    @on(Input.Changed, ".log-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        timer = self._filter_timer
        if timer is not None:
            timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE, lambda: self._apply_input(value))

    @on(Input.Submitted, ".log-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply_input(event.value)
        if self._input_mode == "search":
            self.next_match(forward=True, from_view=True)
        self.query_one(".log-filter-row").remove_class("-shown")
        self.surface.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.filter_input.has_focus:
            event.stop()
            self.close_filter(clear=True)

    # --- search -----------------------------------------------------------------------------

    def set_search(self, pattern: str) -> None:
        try:
            new = self._compile(pattern)
        except ValueError:
            return
        self.search_text = pattern
        self.search = new.compiled if new is not None else None
        if self.filter is None:
            self.highlighter.match = self.search
        self.generation += 1
        self._research()
        self.surface.clear_cache()
        self._update_status()

    def _research(self) -> None:
        search = self.search
        if search is None:
            self.matches, self.match_at = [], -1
            return
        self.matches = [e for e in range(self.entry_count) if search.search(self.entry_text(e))]
        self.match_at = min(self.match_at, len(self.matches) - 1)

    def next_match(self, forward: bool = True, from_view: bool = False) -> bool:
        """Jump to the next (or previous) match; pauses following. False: no match."""
        if self.search is None or not self.matches:
            self._update_status()
            return False
        self.pause("key")
        surface = self.surface
        if from_view or self.match_at < 0:
            top = surface.scroll_offset.y
            ahead = [i for i, e in enumerate(self.matches) if e >= top]
            self.match_at = ahead[0] if ahead and forward else len(self.matches) - 1
        else:
            step = 1 if forward else -1
            self.match_at = (self.match_at + step) % len(self.matches)
        surface.scroll_to_row(self._row_of(self.matches[self.match_at]))
        self._update_status()
        return True

    def _row_of(self, entry: int) -> int:
        rows = self.surface._rows
        if rows is None:
            return entry
        return next((r for r, (e, _p) in enumerate(rows) if e == entry), 0)

    def jump_to_readiness(self) -> bool:
        """Show the newest readiness line (the one the wizard waits for). False: none."""
        pattern = self.highlighter.readiness
        if pattern is None:
            return False
        for entry in range(self.entry_count - 1, -1, -1):
            if pattern.search(self.entry_raw(entry)):
                self.pause("key")
                self.surface.scroll_to_row(self._row_of(entry))
                return True
        return False

    # --- level / repeats / wrap / save / copy -----------------------------------------------

    def toggle_levels(self) -> None:
        self.levels_only = not self.levels_only
        self.rebuild()

    def toggle_collapse(self) -> None:
        self.collapse = not self.collapse
        self.rebuild()

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

    def status_parts(self) -> list[str]:
        parts = [("● following" if self.following else "⏸ paused"), self.label]
        if self.state_text:
            parts.append(self.state_text)
        parts.append(f"{len(self.buffer):,} lines")
        if self.search is not None:
            found = len(self.matches)
            at = f"match {self.match_at + 1} of {found}" if self.match_at >= 0 else f"{found}"
            parts.append(f"search {self.search_text!r}: {at if found else 'no match'}")
        if self.filter is not None:
            mode = "regex" if self.filter.regex else "text"
            case = "case" if self.filter.case_sensitive else "any case"
            parts.append(f"filter {mode}/{case}: {self.filter.pattern!r}")
        elif self._regex or self._case:
            parts.append(
                f"filter mode: {'regex' if self._regex else 'text'}{', case' if self._case else ''}"
            )
        if self.levels_only:
            parts.append("WARN/ERROR only")
        if self.collapse:
            parts.append("repeats collapsed")
        if self.wrap:
            parts.append("wrap")
        return parts

    def _update_status(self) -> None:
        text = " · ".join(self.status_parts())
        if text != self._status_shown:
            self._status_shown = text
            self.query_one(".log-status", Static).update(text)
