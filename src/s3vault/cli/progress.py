"""Progress display: a rich status line on a terminal; throttled ``status`` lines with --json."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.live import Live
from rich.text import Text

from s3vault.cli.context import CliContext
from s3vault.cli.render import emit, human_bytes, warn

INTERVAL = 1.0


class CliProgress:
    """Implements s3vault.progress.Progress for the terminal and for --json."""

    def __init__(self, ctx: CliContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._files = 0
        self._bytes = 0
        self._total_files = 0
        self._total_bytes = 0
        self._phase = ""
        self._start = time.monotonic()
        self._last = 0.0
        self._item = ""
        self._live: Live | None = None

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

    def started(self, phase: str, *, total_files: int = 0, total_bytes: int = 0) -> None:
        """A phase begins."""
        with self._lock:
            self._phase, self._total_files, self._total_bytes = phase, total_files, total_bytes
            self._files = self._bytes = 0
            self._start = time.monotonic()

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Count work and refresh the display at most every INTERVAL (JSON) or 4×/s (TTY)."""
        with self._lock:
            self._files += files
            self._bytes += bytes_
            if item:
                self._item = item
            now = time.monotonic()
            if now - self._last < (INTERVAL if self._live is None else 0.25):
                return
            self._last = now
            files_done, bytes_done, elapsed = self._files, self._bytes, now - self._start
        self._show(files_done, bytes_done, elapsed)

    def _show(self, files: int, nbytes: int, elapsed: float) -> None:
        rate = nbytes / elapsed if elapsed > 0 else 0.0
        if self._ctx.json:
            fraction = nbytes / self._total_bytes if self._total_bytes else 0.0
            emit(
                self._ctx,
                "status",
                phase=self._phase,
                files_done=files,
                bytes_done=nbytes,
                total_files=self._total_files,
                total_bytes=self._total_bytes,
                percent_done=round(fraction, 4),
                seconds_elapsed=round(elapsed, 1),
            )
            return
        if self._live is None:
            return
        eta = ""
        if self._total_bytes and rate > 0:
            eta = f"  ETA {max(0.0, (self._total_bytes - nbytes) / rate):.0f}s"
        line = (
            f"[{elapsed:5.0f}s] {self._phase}: {files} files, {human_bytes(nbytes)} "
            f"({human_bytes(rate)}/s){eta}"
        )
        self._live.update(Text(line))

    def warned(self, path: str, message: str) -> None:
        """Show a warning at once."""
        warn(self._ctx, path, message)

    def finished(self, phase: str) -> None:
        """Phase over."""
