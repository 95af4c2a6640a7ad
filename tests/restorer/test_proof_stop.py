"""A proof stops at an interrupt: the checks running on its threads end at their next block
and the queued ones never start, so a drill stopped while it read a 20 GiB file ends within
the grace of a stop and removes its restore (it had waited for the file, past the grace, and
left the restored plain text behind: an attack pass, 2026-12-07)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from s3vault.format.tree import Node, NodeType
from s3vault.restorer import proof
from s3vault.restorer.locator import ROOT, Entry, Locator


def test_an_interrupt_stops_the_checks_and_drops_the_queued_ones() -> None:
    started: list[int] = []
    stopped = threading.Event()
    stop = threading.Event()

    def check(task: object) -> None:
        started.append(id(task))
        if stop.wait(30):  # a long file's read, which looks at stop between its blocks
            stopped.set()

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    tasks = [object() for _ in range(40)]
    before = signal.signal(signal.SIGINT, interrupt)  # as the CLI's: Ctrl-C interrupts
    ctrl_c = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # while it reads
    try:
        ctrl_c.start()
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            proof._on_threads(check, tasks, 2, stop)  # type: ignore[arg-type]
    finally:
        ctrl_c.cancel()
        ctrl_c.join()
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - began < 10
    assert stopped.is_set()
    assert len(started) == 2  # the running ones; none of the queued 38 began


def test_a_files_check_ends_at_its_next_block_once_told_to_stop(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:
        f.truncate(64 << 20)
    node = Node(name=b"big", type=NodeType.FILE, mode=0o644, size=64 << 20)
    stop = threading.Event()
    locator = Locator(os.fsencode(tmp_path), [])
    try:
        entry = Entry(ROOT, b"big")
        assert "hash mismatch" in proof._file_problem(locator, entry, node, b"k" * 32, stop=stop)
        stop.set()
        with pytest.raises(proof._Stopped):
            proof._file_problem(locator, entry, node, b"k" * 32, stop=stop)
    finally:
        locator.close()
