"""The scanner beside a first backup (issue 17): it counts what the backup will read, with the
backup's exclude rules, so the display has a total; its total equals the backup's figures."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.archiver.excludes import ExcludeRules
from s3vault.archiver.scanner import REPORT_EVERY, Scanner, smaller_than
from s3vault.ops import backup as backup_module
from s3vault.ops.backup import SCAN_PROCESS_FROM_JOBS
from s3vault.progress import NullProgress
from tests.conftest import RepoHandle, write_file


class Totals(NullProgress):
    """Keeps the totals events. ``wait_for_scan``: the backup's first step waits (30 s at most)
    until the scanner has reported its complete totals. A backup of these few files can be
    over before a loaded machine schedules the scanner's thread at all, and the backup then
    stops it, as it should: the totals are for a display, not worth waiting for. So without
    this wait the test would depend on the scheduler (a clean-clone run lost it once)."""

    def __init__(self, *, wait_for_scan: bool = False) -> None:
        self.events: list[tuple[int, int, bool]] = []
        self._wait = wait_for_scan
        self._complete = threading.Event()

    @property
    def shows_totals(self) -> bool:
        return True

    def totals(self, *, files: int, bytes_: int, complete: bool) -> None:
        self.events.append((files, bytes_, complete))
        if complete:
            self._complete.set()

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        if self._wait:
            self._complete.wait(30)


def tree(root: Path) -> Path:
    write_file(root / "a.txt", b"a" * 10)
    write_file(root / "sub" / "b.bin", b"b" * 1000)
    write_file(root / "sub" / "deeper" / "c.log", b"c" * 77)
    write_file(root / "skip" / "big.bin", b"x" * 5000)
    (root / "link").symlink_to("a.txt")
    return root


def test_scanner_counts_files_and_bytes_with_the_backups_excludes(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    heard = Totals()
    excludes = ExcludeRules.build(("*.log", str(src / "skip")), ())
    Scanner((os.fsencode(src),), b"", excludes, heard).run()
    # a.txt, b.bin, link (a symlink is one of the backup's files, with no bytes)
    assert heard.events[-1] == (3, 1010, True)


def test_scanner_reports_as_it_walks_then_once_complete(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(REPORT_EVERY * 2 + 5):
        write_file(src / f"d{i % 7}" / f"f{i}", b"z")
    heard = Totals()
    Scanner((os.fsencode(src),), b"", ExcludeRules(), heard).run()
    growing = [e for e in heard.events if not e[2]]
    assert [e[0] for e in growing] == [REPORT_EVERY, REPORT_EVERY * 2]
    assert heard.events[-1] == (REPORT_EVERY * 2 + 5, REPORT_EVERY * 2 + 5, True)


def test_a_stopped_scanner_says_nothing_complete(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    heard = Totals()
    scanner = Scanner((os.fsencode(src),), b"", ExcludeRules(), heard)
    scanner.stop()  # before it walks: the backup was over first
    scanner.run()
    assert not any(complete for _, _, complete in heard.events)


def test_scanner_skips_what_it_cannot_read_and_missing_targets(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    heard = Totals()
    targets = (os.fsencode(src / "sub"), os.fsencode(tmp_path / "gone"))
    Scanner(targets, b"", ExcludeRules(), heard).run()
    assert heard.events[-1] == (2, 1077, True)


def test_first_backup_totals_from_the_scanner_match_the_backup(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src")
    heard = Totals(wait_for_scan=True)
    result = backup(local_repo.open(), BackupOptions(paths=(str(src),)), progress=heard)
    assert heard.events, "a first backup has a scanner"
    _files, nbytes, complete = heard.events[-1]
    assert complete
    assert nbytes == result.total_bytes_processed
    again = Totals()
    backup(local_repo.open(), BackupOptions(paths=(str(src),)), progress=again)
    assert again.events == []  # with a parent, its totals are the estimate: no scanner


class Unshown(Totals):
    """A progress that shows no totals (a cron job's plain output)."""

    @property
    def shows_totals(self) -> bool:
        return False


def test_a_first_backup_whose_progress_shows_no_totals_has_no_scanner(
    local_repo: RepoHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Scanner] = []

    class Started(Scanner):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr(backup_module, "Scanner", Started)
    for name, progress, scanners in (("a", Unshown(), 0), ("b", Totals(), 1)):
        src = tree(tmp_path / name)  # no parent: a first backup each
        backup(local_repo.open(), BackupOptions(paths=(str(src),)), progress=progress)
        assert len(started) == scanners  # without a display: its sources are walked once


def test_beside_worker_processes_the_scanner_is_a_process_with_the_same_totals(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src")
    heard = Totals(wait_for_scan=True)
    # more than SCAN_PROCESS_FROM_JOBS workers: the scanner is a process of its own
    options = BackupOptions(paths=(str(src),), jobs=SCAN_PROCESS_FROM_JOBS + 1)
    result = backup(local_repo.open(), options, progress=heard)
    assert heard.events, "a first backup with workers has a scanner too"
    _files, nbytes, complete = heard.events[-1]
    assert complete
    assert nbytes == result.total_bytes_processed
    assert [e for e in heard.events if e[2]] == [heard.events[-1]]  # complete once, last


def test_scanner_counts_named_paths_as_the_backup_saves_them(tmp_path: Path) -> None:
    """The backup's named-path rules hold in the count too: a named directory whose own
    name an exclude matches keeps its content, and a target below another is counted once
    (it was walked twice; and d/sub --exclude sub counted nothing in it)."""
    d = tmp_path / "d"
    write_file(d / "a.txt", b"a" * 10)
    write_file(d / "sub" / "b.bin", b"b" * 1000)
    heard = Totals()
    Scanner((os.fsencode(d), os.fsencode(d / "sub")), b"", ExcludeRules(), heard).run()
    assert heard.events[-1] == (2, 1010, True)
    heard = Totals()
    excludes = ExcludeRules.build(("sub",), ())
    Scanner((os.fsencode(d / "sub"),), b"", excludes, heard).run()
    assert heard.events[-1] == (1, 1000, True)


def test_smaller_than_stops_at_either_limit_inside_a_directory(tmp_path: Path) -> None:
    """The walk that chooses one process for a small first backup (ops/backup.py): fewer
    files and bytes than asked is small; reaching either is not, and the walk stops there,
    inside one directory of many entries too."""
    src = tmp_path / "src"
    src.mkdir()
    for n in range(999):
        (src / f"f{n}").touch()
    rules, target = ExcludeRules(), (os.fsencode(src),)
    assert smaller_than(target, b"", rules, 1000, 1 << 20)
    (src / "one-more").touch()
    assert not smaller_than(target, b"", rules, 1000, 1 << 20)
    write_file(src / "sub" / "big", b"x" * 4096)
    assert not smaller_than(target, b"", rules, 10_000, 4096)
    assert smaller_than(target, b"", ExcludeRules.build(("big",)), 10_000, 4096)  # excluded
    # stopped early: a directory being read while the limit is reached is not read to its end
    seen = []
    scanner = Scanner(target, b"", rules, NullProgress())
    scanner.limit = (10, 1 << 30)
    real = scanner._count

    def count(st: os.stat_result) -> None:
        seen.append(st)
        real(st)

    scanner._count = count  # type: ignore[method-assign]
    scanner.run()
    assert not scanner.complete and len(seen) == 10
