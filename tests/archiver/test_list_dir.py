"""archiver/scan.py list_dir: a directory is listed only if it is still the one its parent's
listing saw, and never through a symlink (a user who swapped one of their directories for a
link to a root-only directory between the two had that directory's files stored under the
user's path, exit 0: an attack pass, 2026-12-06; restic opens directories with O_NOFOLLOW)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault.archiver.scan import MovedError, list_dir


def _ident(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def test_a_directory_swapped_for_a_link_to_another_is_not_listed(tmp_path: Path) -> None:
    mine, secret = tmp_path / "home" / "zdir", tmp_path / "root-only"
    mine.mkdir(parents=True)
    secret.mkdir()
    (secret / "id_rsa").write_bytes(b"root's key\n")
    seen = _ident(mine)  # what the listing of home/ saw
    mine.rmdir()
    mine.symlink_to(secret)
    with pytest.raises(OSError) as raised:  # ELOOP: never followed
        list_dir(os.fsencode(mine), seen)
    assert "id_rsa" not in str(raised.value)


def test_a_directory_replaced_by_another_directory_is_not_listed(tmp_path: Path) -> None:
    mine = tmp_path / "zdir"
    mine.mkdir()
    seen = _ident(mine)
    mine.rename(tmp_path / "moved")
    mine.mkdir()
    (mine / "new").write_bytes(b"x")
    with pytest.raises(MovedError):
        list_dir(os.fsencode(mine), seen)


def test_the_directory_it_saw_is_listed_with_names_as_bytes(tmp_path: Path) -> None:
    """Names that are no UTF-8 come back as the bytes they are, each with its lstat."""
    mine = tmp_path / "zdir"
    mine.mkdir()
    odd = b"Bj\xf6rk"
    (mine / "a").write_bytes(b"1")
    with open(os.path.join(os.fsencode(mine), odd), "wb") as f:
        f.write(b"22")
    os.symlink(b"a", os.path.join(os.fsencode(mine), b"link"))
    listed = list_dir(os.fsencode(mine), _ident(mine))
    assert [name for name, _ in listed] == [b"Bj\xf6rk", b"a", b"link"]
    sizes = {name: st.st_size for name, st in listed if isinstance(st, os.stat_result)}
    assert sizes[b"Bj\xf6rk"] == 2 and os.path.islink(os.path.join(os.fsencode(mine), b"link"))
    assert listed == list_dir(os.fsencode(mine))  # the same as without the check
