"""Progress: events that long operations emit while they run. No UI here.

The library calls these from worker threads; implementations must be thread-safe.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receiver of progress events."""

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """A phase begins; totals are 0 when unknown."""
        ...

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Work was done: files completed, bytes processed, the item being worked on."""
        ...

    def warned(self, path: str, message: str) -> None:
        """A non-fatal problem with one item (an unreadable file, an unsafe name)."""
        ...

    def finished(self, phase: str) -> None:
        """The phase ended."""
        ...


class NullProgress:
    """Ignores every event."""

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """Ignore."""

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Ignore."""

    def warned(self, path: str, message: str) -> None:
        """Ignore."""

    def finished(self, phase: str) -> None:
        """Ignore."""
