"""What someone who may write into a restore's target swaps in at a file's path while the
restore runs (an attack pass, 2026-12-06): a hard link to a file of their own, or a FIFO. The
sink writes through neither and does not wait on a FIFO: the file is refused (EntryError), the
other file keeps its bytes. The old sink wrote the restored data into the planted link (a
parallel restore's first open, a serial one's reopen past 256 open files) and hung on a FIFO."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from s3vault.format.tree import Node, NodeType
from s3vault.restorer.locator import ROOT, Entry, Locator
from s3vault.restorer.sinks import SWAPPED, SWAPPED_FOR_SETTING, EntryError, FilesystemSink

SECRET = b"restored data, which only root may read" * 100
OTHER = 12_345  # the user who may write into the target


def _decoy(tmp_path: Path, at: Path) -> Path:
    """A file of OTHER's, hard-linked at ``at``, its own name gone (one link left)."""
    decoy = tmp_path / "theirs"
    decoy.write_bytes(b"theirs")
    if os.geteuid() == 0:
        os.chown(decoy, OTHER, OTHER)
    os.link(decoy, at)
    kept = tmp_path / "kept-open"  # what they read through later
    os.link(decoy, kept)
    decoy.unlink()
    return kept


def _sink(target: Path, *, shared: bool) -> tuple[FilesystemSink, Entry]:
    return FilesystemSink(Locator(os.fsencode(target), ()), shared=shared), Entry(ROOT, b"f")


def test_a_parallel_restore_does_not_write_through_a_link_planted_before_its_first_write(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a file of another user's needs root to make")
    target = tmp_path / "target"
    target.mkdir()
    kept = _decoy(tmp_path, target / "f")
    kept.unlink()  # one link: only the name in the target
    sink, entry = _sink(target, shared=True)
    with pytest.raises(EntryError, match=SWAPPED):
        sink.write(entry, len(SECRET), 0, SECRET)
    assert (target / "f").read_bytes() == b"theirs"


@pytest.mark.parametrize("shared", [False, True])
def test_a_file_reopened_after_a_swap_to_a_hard_link_is_refused(
    tmp_path: Path, shared: bool
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    sink, entry = _sink(target, shared=shared)
    sink.write(entry, 2 * len(SECRET), 0, SECRET)
    sink.release(entry)  # as past MAX_OPEN_FILES: the next write opens it again by name
    (target / "f").unlink()
    kept = _decoy(tmp_path, target / "f")
    with pytest.raises(EntryError, match=SWAPPED):
        sink.write(entry, 2 * len(SECRET), len(SECRET), SECRET)
    assert kept.read_bytes() == b"theirs"


def test_a_fifo_swapped_in_is_refused_without_waiting_for_a_reader(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    sink, entry = _sink(target, shared=False)
    sink.write(entry, 2 * len(SECRET), 0, SECRET)
    sink.release(entry)
    (target / "f").unlink()
    os.mkfifo(target / "f")
    failure: list[BaseException] = []

    def write() -> None:
        try:
            sink.write(entry, 2 * len(SECRET), len(SECRET), SECRET)
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(10)
    if writer.is_alive():  # the old sink: blocked in open() until a reader comes
        os.close(os.open(target / "f", os.O_RDONLY | os.O_NONBLOCK))
        writer.join(10)
        pytest.fail("the write waited for a reader of the FIFO")
    assert len(failure) == 1 and isinstance(failure[0], EntryError), failure


def test_a_link_swapped_in_before_the_metadata_does_not_get_the_snapshots_owner_and_mode(
    tmp_path: Path,
) -> None:
    """root restoring a setuid program: a hard link to the attacker's own program, swapped in
    after the content and before the metadata, got owner root and mode 4755."""
    target = tmp_path / "target"
    target.mkdir()
    sink, entry = _sink(target, shared=False)
    sink.write(entry, len(SECRET), 0, SECRET)
    sink.release(entry)
    (target / "f").unlink()
    kept = _decoy(tmp_path, target / "f")
    before = kept.stat()
    node = Node(name=b"f", type=NodeType.FILE, mode=0o104755, size=len(SECRET), mtime_ns=10**18)
    assert sink.set_metadata(entry, node) == f"cannot set metadata ({SWAPPED_FOR_SETTING})"
    after = kept.stat()
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)
