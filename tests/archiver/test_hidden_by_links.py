"""archiver/pipeline.py ``hidden_by_links``: a backup target that another target encloses
through a symbolic link is said, not dropped without a word; on a real tree, also 10,000
levels deep (it resolved every prefix as a path: 15 s for one such target)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault.archiver.pipeline import hidden_by_links


def _deep(root: Path, levels: int, link_at: int | None = None) -> bytes:
    """``root/d/d/.../d`` (relative to ``root``, by descriptor: past PATH_MAX too); level
    ``link_at`` is a link to a sibling directory instead. Returns the path's components."""
    (root / "elsewhere").mkdir()
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for level in range(1, levels + 1):
            if level == link_at:
                os.symlink(str(root / "elsewhere"), "d", dir_fd=fd)
                break
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_PATH | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    return b"/".join([b"d"] * levels)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("link_at", [None, 5_000])
def test_a_target_10000_levels_below_another_is_checked_link_by_link(
    tmp_path: Path, link_at: int | None
) -> None:
    below = _deep(tmp_path, 10_000, link_at)
    base = os.fsencode(tmp_path)
    found = hidden_by_links((b"/d", b"/" + below + b"/f"), base)
    if link_at is None:
        assert found == []
    else:
        ((path, top, link),) = found
        assert top == b"/d" and link == base + b"/" + b"/".join([b"d"] * link_at)
        assert path.endswith(b"/d/f")


def test_the_enclosing_target_itself_a_link_and_names_with_odd_bytes(tmp_path: Path) -> None:
    odd = b"caf\xe9"  # no UTF-8
    (tmp_path / "real" / os.fsdecode(odd)).mkdir(parents=True)
    (tmp_path / "lib").symlink_to("real")
    base = os.fsencode(tmp_path)
    found = hidden_by_links((b"/lib", b"/lib/" + odd + b"/f", b"/real/" + odd), base)
    assert found == [(base + b"/lib/" + odd + b"/f", b"/lib", base + b"/lib")]
    assert hidden_by_links((b"/gone", b"/gone/x/f"), base) == []  # nothing there: no link
