"""Progress: events that long operations emit while they run. No UI here.

The library calls these from worker threads; implementations must be thread-safe.

Events, in the order an operation emits them:

- ``started(phase, totals)``: a phase begins; its totals when known beforehand (a backup
  takes its parent's), else 0: "unknown yet", which a display shows differently from 0 %;
- ``totals(files, bytes, complete)``: the totals found by a scanner running beside the phase
  (a first backup walks its sources to count them, as restic does): growing figures, then
  ``complete=True`` once the walk is over;
- ``file_started(path)`` / ``file_done(path, status)``: one file is being read / is done, with
  ``status`` one of ``FILE_STATUSES`` (``new``, ``modified``, ``unchanged``, restic's words);
- ``advanced``: files and bytes done;
- ``files_in_flight(source, paths)``: the files another process of the operation is reading
  now (a backup's worker, said about twice a second: its ``file_started`` events stay there);
- ``warned``: a non-fatal problem with one item;
- ``waiting(what, until)``: the operation waits (a retry's backoff, a held lease) for at most
  ``until``; sent when the wait begins and again while it lasts, so nobody stares at a silent
  terminal for minutes;
- ``finished(phase)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

FILE_STATUSES = ("new", "modified", "unchanged")


class Waiting(Protocol):
    """Receiver of ``waiting`` events alone (a backend's retries have nothing else to say)."""

    def waiting(self, what: str, *, until: datetime) -> None:
        """The operation is waiting for ``what``, for at most until ``until``."""
        ...


class Progress(Protocol):
    """Receiver of progress events."""

    @property
    def lists_files(self) -> bool:
        """Whether ``file_done`` events are wanted (a process-parallel engine carries them
        across processes only then)."""
        ...

    @property
    def shows_totals(self) -> bool:
        """Whether the scanner's ``totals`` are shown somewhere (a first backup walks its
        sources a second time, for the totals alone, only then)."""
        ...

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """A phase begins; totals are 0 when unknown."""
        ...

    def totals(self, *, files: int, bytes_: int, complete: bool) -> None:
        """The scanner's count so far (``complete``: the whole of it)."""
        ...

    def file_started(self, path: str) -> None:
        """A file is being read (it is in flight until its ``file_done``)."""
        ...

    def file_done(self, path: str, status: str) -> None:
        """A file is done: ``status`` is ``new``, ``modified`` or ``unchanged``."""
        ...

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Work was done: files completed, bytes processed, the item being worked on."""
        ...

    def files_in_flight(self, source: int, paths: list[str]) -> None:
        """The files worker ``source`` is reading now (what it said before is replaced)."""
        ...

    def warned(self, path: str, message: str) -> None:
        """A non-fatal problem with one item (an unreadable file, an unsafe name)."""
        ...

    def waiting(self, what: str, *, until: datetime) -> None:
        """The operation is waiting for ``what`` (a sentence fragment: "the maintenance lease
        held by host1", "put data/ab/… to succeed again"), for at most until ``until``."""
        ...

    def finished(self, phase: str) -> None:
        """The phase ended."""
        ...


class NullProgress:
    """Ignores every event."""

    @property
    def lists_files(self) -> bool:
        """No."""
        return False

    @property
    def shows_totals(self) -> bool:
        """No."""
        return False

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """Ignore."""

    def totals(self, *, files: int, bytes_: int, complete: bool) -> None:
        """Ignore."""

    def file_started(self, path: str) -> None:
        """Ignore."""

    def file_done(self, path: str, status: str) -> None:
        """Ignore."""

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Ignore."""

    def files_in_flight(self, source: int, paths: list[str]) -> None:
        """Ignore."""

    def warned(self, path: str, message: str) -> None:
        """Ignore."""

    def waiting(self, what: str, *, until: datetime) -> None:
        """Ignore."""

    def finished(self, phase: str) -> None:
        """Ignore."""
