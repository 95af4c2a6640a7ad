"""What a backup says of an entry it could not read (archiver/scan.read_problem): a race with
the file system is said as the race it is. A directory swapped for a symlink while it was read
gave "cannot read metadata: Invalid argument" (readlink of what is a directory again), and a
deleted file "cannot read: No such file or directory" in one run, "vanished" in the next (an
attack pass, 2026-12-07)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault.archiver.scan import read_problem


def _raised(call: object) -> OSError:
    with pytest.raises(OSError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def test_the_races_and_the_faults_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"x")
    gone = _raised(lambda: os.lstat(tmp_path / "gone"))
    assert read_problem(gone, "cannot read") == "vanished before it could be read"
    relinked = _raised(lambda: os.readlink(tmp_path / "d"))  # was a link when listed
    assert read_problem(relinked, "cannot read metadata") == (
        "changed type while being read (replaced since it was listed)"
    )
    below_a_file = _raised(lambda: os.lstat(tmp_path / "f" / "x"))  # a directory, once
    assert read_problem(below_a_file, "cannot read").startswith("changed type")
    looping = tmp_path / "loop"
    looping.symlink_to(looping)
    fault = _raised(lambda: os.stat(looping))
    assert read_problem(fault, "cannot read") == f"cannot read: {fault.strerror}"
