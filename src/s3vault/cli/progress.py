"""Progress display: on a terminal a live status (percent, files and bytes done of the total,
throughput, ETA, errors so far, the files in flight) on stderr; with --json throttled
``status`` lines; elsewhere (cron, a pipe) nothing, and never an ANSI escape.

"Total unknown yet" (a first backup whose scanner is still counting, a phase without totals)
is shown as such, never as 0 %. ``-vv`` lists each file a backup finishes (``new``,
``modified``, ``unchanged``: restic's verbose lines; ``verbose_status`` objects with --json).
A wait (a retry's backoff, a held lease) is said once on stderr, then every ``WAIT_EVERY``
seconds while it lasts (``Waits``; it hears the backend's events too, before any command's
display exists).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from types import TracebackType

from rich.console import Group
from rich.live import Live
from rich.text import Text

from s3vault import SystemClock
from s3vault.cli.context import CliContext
from s3vault.cli.render import (
    emit_message,
    human_bytes,
    human_duration,
    json_name,
    line,
    plural,
    warn,
)

INTERVAL = 1.0  # seconds between two JSON status lines
REFRESH = 0.25  # seconds between two terminal refreshes
WAIT_EVERY = 30.0  # seconds between two lines saying the command waits
IN_FLIGHT_SHOWN = 4  # files in flight listed under the status line
# what a phase counts, where it is not files (the library's phase names)
UNITS = {
    "verify": "pack",
    "repacking": "blob",
    "deleting packs": "pack",
    "copying": "snapshot",
    "repair snapshots": "snapshot",
}


class Waits:
    """Says that a command waits: once when a wait begins, then at most every WAIT_EVERY
    seconds (one per invocation: ``waits_for(ctx)``). Thread-safe."""

    def __init__(
        self,
        ctx: CliContext,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self._ctx = ctx
        self._now = monotonic
        self._wall = wall or SystemClock().now
        self._lock = threading.Lock()
        self._last: float | None = None

    def waiting(self, what: str, *, until: datetime) -> None:
        """A ``waiting`` event: shown unless one was shown less than WAIT_EVERY ago."""
        with self._lock:
            now = self._now()
            if self._last is not None and now - self._last < WAIT_EVERY:
                return
            self._last = now
        left = (until - self._wall()).total_seconds()
        when = until.astimezone().isoformat(timespec="seconds")
        if self._ctx.json:
            emit_message(self._ctx, "waiting", what=what, until=when, seconds_left=round(left))
            return
        if self._ctx.quiet:
            return
        self._ctx.err.print(
            f"waiting for {what}: at most until {when} ({human_duration(left)} from now)",
            markup=False,
            highlight=False,
        )


def waits_for(ctx: CliContext) -> Waits:
    """The invocation's one ``Waits`` (so the backend's and the command's waits share the
    pace of their lines)."""
    if ctx.waits is None:
        ctx.waits = Waits(ctx)
    waits: Waits = ctx.waits
    return waits


class CliProgress:
    """Implements s3vault.progress.Progress for the terminal and for --json."""

    def __init__(self, ctx: CliContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._files = self._bytes = self._errors = 0
        self._total_files = self._total_bytes = 0
        self._total_known = False
        self._scanned: tuple[int, int] | None = None  # the scanner's count while it walks
        self._phase = ""
        self._done = False
        self._start = time.monotonic()
        self._last = 0.0
        self._in_flight: dict[str, None] = {}  # ordered set
        self._others: dict[int, list[str]] = {}  # a worker's files in flight, by worker
        self._live: Live | None = None
        self._list_files = ctx.verbose >= 2 and not ctx.quiet
        self._track = self.shows_totals  # files in flight are shown somewhere

    def __enter__(self) -> CliProgress:
        if self._ctx.interactive:
            self._live = Live(Text(""), console=self._ctx.err, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()

    # Events ---------------------------------------------------------------------------------

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """A phase begins (totals 0: unknown until a scanner says)."""
        with self._lock:
            self._phase, self._total_files, self._total_bytes = phase, total_files, total_bytes
            self._total_known = bool(total_files or total_bytes)
            self._done = False
            self._scanned = None
            self._files = self._bytes = 0
            self._in_flight.clear()
            self._others.clear()
            self._start = time.monotonic()
        if self._live is not None:
            self._refresh(force=True)

    def totals(self, *, files: int, bytes_: int, complete: bool) -> None:
        """The scanner's count: the total once it is complete."""
        with self._lock:
            if complete:
                self._total_files, self._total_bytes = files, bytes_
                self._total_known, self._scanned = True, None
            else:
                self._scanned = (files, bytes_)
        self._refresh(force=complete)

    @property
    def lists_files(self) -> bool:
        """With -vv."""
        return self._list_files

    @property
    def shows_totals(self) -> bool:
        """On a terminal and with --json (a status line carries them); not in a cron job's
        plain output, nor with -q (restic's -q --json prints the summary alone)."""
        return bool(self._ctx.interactive or (self._ctx.json and not self._ctx.quiet))

    def file_started(self, path: str) -> None:
        """A file is in flight."""
        if not self._track:
            return
        with self._lock:
            self._in_flight[path] = None

    def file_done(self, path: str, status: str) -> None:
        """A file is done; listed with -vv."""
        if self._track:
            with self._lock:
                self._in_flight.pop(path, None)
        if not self._list_files:
            return
        if self._ctx.json:  # the path itself, as restic's and as ls --json name it
            item = json_name(os.fsencode(path))
            emit_message(self._ctx, "verbose_status", action=status, item=item)
            return
        line(self._ctx, f"{status:<9} {path}")

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Count work and refresh the display (4×/s on a terminal, 1×/s with --json)."""
        del item
        with self._lock:
            self._files += files
            self._bytes += bytes_
        self._refresh()

    def files_in_flight(self, source: int, paths: list[str]) -> None:
        """A worker's files in flight (a backup's workers say theirs twice a second)."""
        if not self._track:
            return
        with self._lock:
            if paths:
                self._others[source] = paths
            else:
                self._others.pop(source, None)
        self._refresh()

    def warned(self, path: str, message: str) -> None:
        """Show a warning at once; it counts as one of the errors so far."""
        with self._lock:
            self._errors += 1
            self._in_flight.pop(path, None)
        warn(self._ctx, path, message)

    def waiting(self, what: str, *, until: datetime) -> None:
        """Say that the command waits (Waits paces the lines)."""
        waits_for(self._ctx).waiting(what, until=until)

    def finished(self, phase: str) -> None:
        """Phase over: the display shows its last figures (100 %)."""
        with self._lock:
            self._done = True
        if self._live is not None:  # JSON status lines are as before: only while it runs
            self._refresh(force=True)

    # Display --------------------------------------------------------------------------------

    def _refresh(self, *, force: bool = False) -> None:
        """Show the figures: at once when ``force``d on a terminal (a phase begins or ends,
        the total became known); JSON status lines stay at most one a second."""
        if not self.shows_totals:  # a cron job's plain output, or -q
            return
        with self._lock:
            now = time.monotonic()
            force = force and self._live is not None
            if not force and now - self._last < (INTERVAL if self._live is None else REFRESH):
                return
            self._last = now
            snap = self._snapshot(now)
        if self._ctx.json:
            emit_message(self._ctx, "status", **snap.fields())
        elif self._live is not None:
            self._live.update(snap.render())

    def _snapshot(self, now: float) -> Status:
        return Status(
            phase=self._phase,
            elapsed=now - self._start,
            files=self._files,
            bytes_=self._bytes,
            total_files=self._total_files,
            total_bytes=self._total_bytes,
            total_known=self._total_known,
            scanned=self._scanned,
            errors=self._errors,
            done=self._done,
            in_flight=[*self._in_flight, *chain(*self._others.values())][-IN_FLIGHT_SHOWN:],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """One moment of a phase: what the status line and the JSON ``status`` object say."""

    phase: str
    elapsed: float
    files: int
    bytes_: int
    total_files: int
    total_bytes: int
    total_known: bool
    scanned: tuple[int, int] | None  # the scanner's count while it walks
    errors: int
    done: bool  # the phase is over: 100 % whatever the estimate said
    in_flight: list[str]

    @property
    def fraction(self) -> float | None:
        """Done of the total (by bytes, else by files), below 1 until the phase ends; None
        while the total is unknown."""
        if not self.total_known:
            return None
        if self.done:
            return 1.0
        if self.total_bytes:
            return min(0.999, self.bytes_ / self.total_bytes)
        if self.total_files:
            return min(0.999, self.files / self.total_files)
        return None

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        return self.bytes_ / self.elapsed if self.elapsed > 0 else 0.0

    def seconds_left(self) -> float | None:
        """The ETA in seconds (None: unknown)."""
        fraction = self.fraction
        if fraction is None or fraction <= 0 or self.elapsed <= 0 or self.done:
            return None
        return self.elapsed * (1 - fraction) / fraction

    def fields(self) -> dict[str, object]:
        """The JSON ``status`` object (restic's field names; ``total_known`` false and no
        ``percent_done`` or ``seconds_remaining`` while the total is unknown)."""
        out: dict[str, object] = {
            "phase": self.phase,
            "seconds_elapsed": round(self.elapsed, 1),
            "files_done": self.files,
            "bytes_done": self.bytes_,
            "total_files": self.total_files,
            "total_bytes": self.total_bytes,
            "total_known": self.fraction is not None,
            "error_count": self.errors,
            "current_files": self.in_flight,
        }
        if self.fraction is not None:
            out["percent_done"] = round(self.fraction, 4)
        left = self.seconds_left()
        if left is not None:
            out["seconds_remaining"] = round(left)
        if self.scanned is not None:
            out["files_scanned"], out["bytes_scanned"] = self.scanned
        return out

    def line(self) -> str:
        """The status line: ``backup 42.1 %  1,234 of 2,931 files  1.20 GiB of 2.86 GiB
        35.2 MiB/s  ETA 48 seconds  2 errors  (12 seconds)``."""
        fraction = self.fraction
        unit = UNITS.get(self.phase, "file")
        parts = [self.phase]
        if fraction is None:
            parts.append("total unknown yet")
            parts.append(plural(self.files, unit))
            parts.append(human_bytes(self.bytes_))
        else:
            parts.append(f"{fraction * 100:5.1f} %")
            parts.append(f"{self.files:,} of {plural(self.total_files, unit)}")
            if self.total_bytes:
                parts.append(f"{human_bytes(self.bytes_)} of {human_bytes(self.total_bytes)}")
        parts.append(f"{human_bytes(self.rate)}/s")
        left = self.seconds_left()
        if left is not None:
            parts.append(f"ETA {human_duration(left)}")
        if self.scanned is not None:
            files, nbytes = self.scanned
            parts.append(f"(scanning: {plural(files, 'file')}, {human_bytes(nbytes)} so far)")
        if self.errors:
            parts.append(plural(self.errors, "error"))
        parts.append(f"[{human_duration(self.elapsed)}]")
        return "  ".join(parts)

    def render(self) -> Group:
        """The terminal display: the status line, then the files in flight."""
        lines = [Text(self.line())]
        lines += [Text(f"  {path}", overflow="ellipsis", no_wrap=True) for path in self.in_flight]
        return Group(*lines)
