"""remove_tree removes a scratch directory of any depth and never follows a link out of it."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault.restorer.scratch import remove_tree


def test_remove_tree_removes_depth_and_width_but_not_what_links_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    top = tmp_path / "scratch"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for level in range(1200):  # deeper than Python 3.11's recursive shutil.rmtree can go
        os.mkdir(b"d", dir_fd=fd)
        if level % 300 == 0:
            os.symlink(outside, b"link", dir_fd=fd)
            os.close(os.open(b"f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
            os.mkfifo(b"fifo", dir_fd=fd)
        below = os.open(b"d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    for i in range(50):
        (top / f"wide-{i}").mkdir()
    remove_tree(top)
    assert not top.exists()
    assert (outside / "keep").read_bytes() == b"keep"
    remove_tree(top)  # gone already: nothing to do, no error
