"""The scanner: a thread that walks a first backup's sources beside it, counting files and
bytes, so the progress display has totals (a percentage, an ETA) as restic's scanner gives.

It applies the backup's exclude rules (patterns, sizes, tag files, one file system) but reads no
file: a count of regular files and their sizes by ``lstat``. Its figures go out as
``Progress.totals`` events, growing as it walks (every ``REPORT_EVERY`` files) and once more
with ``complete=True`` at the end; an unreadable directory is skipped silently (the backup
itself reports it). It stops early when ``stop()`` is called (the backup is over or failed).
The walk is iterative (an explicit stack), as everywhere in the library.
"""

from __future__ import annotations

import os
import stat
import threading

from s3vault.archiver.excludes import ExcludeMatcher, ExcludeRules
from s3vault.progress import NullProgress, Progress

REPORT_EVERY = 256  # files between two ``totals`` events


class Scanner:
    """Counts the files and bytes a backup of ``targets`` (recorded paths, read below
    ``root``) will read. Use ``start()`` then ``stop()``; or ``run()`` on this thread."""

    def __init__(
        self, targets: tuple[bytes, ...], root: bytes, excludes: ExcludeRules, progress: Progress
    ) -> None:
        self._targets = targets
        self._root = root
        self._matcher = ExcludeMatcher(excludes, named=targets)  # the backup's own rules
        self._progress = progress
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.files = 0
        self.bytes_ = 0
        self.complete = False
        self.limit: tuple[int, int] | None = None  # (files, bytes): stop once one is reached

    def start(self) -> None:
        """Walk on a daemon thread (it never keeps the process alive)."""
        self._thread = threading.Thread(target=self.run, name="s3v-scanner", daemon=True)
        self._thread.start()

    def stop(self, *, wait: bool = True) -> None:
        """Stop walking, and wait for the thread unless ``wait`` is False (a daemon thread:
        it never keeps the process alive)."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()

    def run(self) -> None:
        """Walk every target (one below another is walked with it, not twice); report as it
        goes and at the end (unless stopped)."""
        targets = set(self._targets)
        for target in self._targets:
            if _below_another(target, targets):
                continue
            if self._stop.is_set():
                return
            self._walk(target)
        if not self._stop.is_set():
            self.complete = True
            self._report()

    def _report(self) -> None:
        self._progress.totals(files=self.files, bytes_=self.bytes_, complete=self.complete)

    def _walk(self, target: bytes) -> None:
        """One target and everything below it, depth first (the stack holds directories)."""
        try:
            top = os.lstat(self._root + target)
        except OSError:
            return
        if not stat.S_ISDIR(top.st_mode):
            self._count(top)
            return
        stack = [(target, top.st_dev, False)]
        while stack and not self._stop.is_set():
            recorded, dev, way_only = stack.pop()
            path = self._root + recorded
            # as the backup: only the way to a named path (its tag files not looked for), else
            # what a tag file spares (the backup says the problems)
            tagged = frozenset() if way_only else self._matcher.tagged(path)[0]
            try:
                self._list(recorded, path, dev, tagged, stack)
            except OSError:
                continue

    def _list(
        self,
        recorded: bytes,
        path: bytes,
        dev: int,
        tagged: frozenset[bytes] | None,
        stack: list[tuple[bytes, int, bool]],
    ) -> None:
        """Count one directory's entries and put its subdirectories on ``stack``, entry by
        entry: a walk stopped (``smaller_than``'s limit) stops inside a directory of 100,000
        entries too, not after a stat of each.

        Raises:
            OSError: the directory cannot be listed.
        """
        with os.scandir(path) as it:
            for entry in it:
                if self._stop.is_set():
                    return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:  # gone since the listing: the backup says what it finds
                    continue
                child = os.path.join(recorded, entry.name)
                if self._matcher.skipped(child, entry.name, st, tagged):
                    continue
                if stat.S_ISDIR(st.st_mode):
                    below = self._matcher.below(child, st.st_dev, dev)
                    if below is not None:
                        stack.append((child, *below))
                else:
                    self._count(st)

    def _count(self, st: os.stat_result) -> None:
        self.files += 1  # every non-directory is one of the backup's files (restic counts so)
        if stat.S_ISREG(st.st_mode):
            self.bytes_ += st.st_size
        if self.limit is not None and (self.files >= self.limit[0] or self.bytes_ >= self.limit[1]):
            self._stop.set()
        if self.files % REPORT_EVERY == 0:
            self._report()


def smaller_than(
    targets: tuple[bytes, ...], root: bytes, excludes: ExcludeRules, files: int, bytes_: int
) -> bool:
    """Whether a backup of ``targets`` reads fewer than ``files`` files and ``bytes_`` bytes:
    the scanner's walk on this thread, stopped as soon as either is reached (a few
    milliseconds however large the sources)."""
    scanner = Scanner(targets, root, excludes, NullProgress())
    scanner.limit = (files, bytes_)
    scanner.run()
    return scanner.complete


def _below_another(path: bytes, targets: set[bytes]) -> bool:
    """Whether a directory above ``path`` is one of the ``targets`` too."""
    if b"/" in targets and path != b"/":
        return True
    head = path
    while (head := head.rpartition(b"/")[0]) and head not in targets:
        pass
    return bool(head)
