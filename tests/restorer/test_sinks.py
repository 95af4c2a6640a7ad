"""The restore sink leaves zero blocks as holes, writes everything else, creates each file
once (by its first write, or at its end when it had no content), never through a symlink."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import RestoreError
from s3vault.format.tree import Node, NodeType
from s3vault.restorer import sinks
from s3vault.restorer.locator import ROOT, Entry, Locator
from s3vault.restorer.sinks import (
    HOLE_BLOCK,
    SWAPPED_FOR_SETTING,
    FilesystemSink,
    data_runs,
)


def sink_in(directory: Path) -> FilesystemSink:
    """A sink that writes entries directly into ``directory``."""
    return FilesystemSink(Locator(os.fsencode(directory), ()), owners=False)


def at(name: str) -> Entry:
    return Entry(ROOT, name.encode())


# Runs of zeros and of non-zero bytes of any length, so zero stretches start unaligned.
runs_of_bytes = st.lists(
    st.tuples(st.sampled_from([b"\0", b"\1"]), st.integers(1, 3 * HOLE_BLOCK)), max_size=8
)


@given(runs_of_bytes)
def test_data_runs_cover_every_nonzero_byte(parts: list[tuple[bytes, int]]) -> None:
    data = b"".join(byte * n for byte, n in parts)
    rebuilt = bytearray(len(data))
    last = 0
    for start, end in data_runs(data):
        assert last <= start < end <= len(data)
        last = end
        rebuilt[start:end] = data[start:end]
    assert bytes(rebuilt) == data


def _plain_runs(data: bytes) -> list[tuple[int, int]]:
    """data_runs as it scanned every blob (before its quick look at the blocks' ends)."""
    if len(data) < HOLE_BLOCK:
        return [] if data.count(0) == len(data) else [(0, len(data))]
    if data.find(bytes(4096)) == -1:
        return [(0, len(data))]
    runs, start = [], -1
    for pos in range(0, len(data), HOLE_BLOCK):
        block = data[pos : pos + HOLE_BLOCK]
        zero = block == bytes(len(block))
        if zero and start >= 0:
            runs.append((start, pos))
            start = -1
        elif not zero and start < 0:
            start = pos
    if start >= 0:
        runs.append((start, len(data)))
    return runs


@given(runs_of_bytes)
def test_data_runs_leave_out_what_a_plain_scan_leaves_out(parts: list[tuple[bytes, int]]) -> None:
    data = b"".join(byte * n for byte, n in parts)
    assert data_runs(data) == _plain_runs(data)


def test_aligned_zero_blocks_are_left_out() -> None:
    data = b"\1" * 10 + bytes(3 * HOLE_BLOCK) + b"\1"
    assert data_runs(data) == [(0, HOLE_BLOCK), (3 * HOLE_BLOCK, len(data))]
    assert data_runs(bytes(3 * HOLE_BLOCK)) == []
    assert data_runs(bytes(10)) == []


def test_blocks_write_into_one_file_from_many_threads(tmp_path: Path) -> None:
    path = at("f")
    block = 1000
    sink = sink_in(tmp_path)

    def write(i: int) -> None:
        sink.write(path, 64 * block, i * block, bytes([i + 1]) * block)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.finish_file(path, 64 * block)
    assert (tmp_path / "f").read_bytes() == b"".join(bytes([i + 1]) * block for i in range(64))


def test_a_file_without_content_is_created_at_its_end(tmp_path: Path) -> None:
    path = at("zeros")
    sink = sink_in(tmp_path)
    sink.write(path, 3 * HOLE_BLOCK, 0, bytes(HOLE_BLOCK))  # all zeros: no write, no file
    assert not (tmp_path / "zeros").exists()
    sink.finish_file(path, 3 * HOLE_BLOCK)
    assert (tmp_path / "zeros").read_bytes() == bytes(3 * HOLE_BLOCK)


def test_a_symlink_at_the_path_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    (tmp_path / "t").mkdir()
    link = tmp_path / "t" / "f"
    link.symlink_to(outside)
    sink = sink_in(tmp_path / "t")
    sink.write(at("f"), 5, 0, b"hello")
    sink.finish_file(at("f"), 5)
    assert outside.read_bytes() == b"keep"
    assert not link.is_symlink()
    assert link.read_bytes() == b"hello"


def test_more_files_in_progress_than_kept_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks, "MAX_OPEN_FILES", 2)
    sink = sink_in(tmp_path)
    paths = [at(str(i)) for i in range(5)]
    for half in (0, 1):
        for i, path in enumerate(paths):
            sink.write(path, 2, half, bytes([65 + i]))
    assert len(sink._open) == 2
    for path in paths:
        sink.finish_file(path, 2)
    assert not sink._open
    assert [(tmp_path / str(i)).read_bytes() for i in range(5)] == [
        bytes([65 + i]) * 2 for i in range(5)
    ]


@pytest.mark.parametrize("kind", [NodeType.DIR, NodeType.FILE])
def test_metadata_never_goes_through_a_symlink_put_in_an_entrys_place(
    tmp_path: Path, kind: NodeType
) -> None:
    """chmod has no "do not follow" on Linux: a user who can write into the target swapped a
    restored directory (or file) for a link between its creation and its metadata, and root
    set the snapshot's mode (777) on what the link named (an attack pass, 2026-12-06). The
    mode goes to the entry itself, or the entry is refused with a warning."""
    target, victim = tmp_path / "t", tmp_path / "victim"
    target.mkdir()
    victim.mkdir(mode=0o700)
    victim.chmod(0o700)
    sink = FilesystemSink(Locator(os.fsencode(target), []), owners=False)
    entry = Entry(ROOT, b"d")
    (target / "d").symlink_to(victim)  # the swap, after the entry was made
    node = Node(name=b"d", type=kind, mode=0o777, mtime_ns=10**18)
    warning = sink.set_metadata(entry, node)
    assert victim.stat().st_mode & 0o777 == 0o700
    assert "mode" in warning or SWAPPED_FOR_SETTING in warning, warning
    (target / "d").unlink()  # the entry itself takes the mode
    (target / "d").mkdir() if kind is NodeType.DIR else (target / "d").write_bytes(b"")
    assert sink.set_metadata(entry, node) == ""
    assert (target / "d").stat().st_mode & 0o777 == 0o777


def test_running_out_of_descriptors_is_the_process_problem_not_the_entrys() -> None:
    """EMFILE/ENFILE escape as themselves (the command ends: "too many open files", raise the
    limit), where a file the target refuses is that file's EntryError and a full disk stops
    the restore naming the file."""
    for code in (errno.EMFILE, errno.ENFILE):
        with pytest.raises(OSError) as raised:
            sinks._os_error(OSError(code, os.strerror(code)), "cannot create file", b"/t/f")
        assert raised.value.errno == code
        assert not isinstance(raised.value, RestoreError)
    refused = sinks._os_error(OSError(errno.ENAMETOOLONG, "too long"), "cannot create file", b"")
    assert isinstance(refused, sinks.EntryError)
    full = sinks._os_error(OSError(errno.ENOSPC, "full"), "cannot write", b"/t/f")
    assert isinstance(full, RestoreError) and not isinstance(full, sinks.EntryError)
    assert "/t/f" in str(full)
