"""The locator reaches entries far below PATH_MAX through directory descriptors, never through a
symlink, and a descriptor it hands out stays valid whatever other threads evict."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3vault.format.tree import Node, NodeType
from s3vault.restorer import locator as locator_module
from s3vault.restorer.locator import PATH_LIMIT, ROOT, Entry, Locator
from s3vault.restorer.scratch import remove_tree
from s3vault.restorer.sinks import EntryError, FilesystemSink

NAME = b"d" * 100  # 101 bytes a level: PATH_MAX (4096) is passed at level 41
LEVELS = 130  # 13 KB: three times PATH_MAX


def chain(levels: int) -> list[Entry]:
    """Directory entries /NAME/NAME/... numbered top down."""
    return [Entry(ROOT, NAME), *(Entry(n, NAME) for n in range(levels - 1))]


def walk_down(root: Path, levels: int) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        below = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = below
    return fd


@pytest.fixture
def deep(tmp_path: Path) -> Iterator[tuple[Path, list[Entry]]]:
    """A target with a directory chain three times longer than PATH_MAX, made by the sink."""
    root = tmp_path / "t"
    root.mkdir()
    dirs = chain(LEVELS)
    sink = FilesystemSink(Locator(os.fsencode(root), dirs), owners=False)
    for entry in dirs:
        sink.make_dir(entry)
    yield root, dirs
    remove_tree(root)


def test_entries_below_path_max_are_written_and_named(deep: tuple[Path, list[Entry]]) -> None:
    root, dirs = deep
    locator = Locator(os.fsencode(root), dirs)
    sink = FilesystemSink(locator, owners=False)
    bottom = Entry(LEVELS - 1, b"file")
    sink.write(bottom, 5, 0, b"deep!")
    sink.finish_file(bottom, 5)
    assert sink.make_other(Entry(LEVELS - 1, b"link"), _symlink(b"file")) == ""
    fd = walk_down(root, LEVELS)
    try:
        assert os.read(os.open("file", os.O_RDONLY, dir_fd=fd), 10) == b"deep!"
        assert os.readlink(b"link", dir_fd=fd) == b"file"
    finally:
        os.close(fd)
    path = locator.path(bottom)
    assert len(path) > 3 * 4096 > PATH_LIMIT
    assert path == os.fsencode(root) + (b"/" + NAME) * LEVELS + b"/file"
    locator.close()


def _symlink(target: bytes) -> Node:
    return Node(name=b"link", type=NodeType.SYMLINK, link_target=target)


def test_a_symlink_swapped_in_deep_down_is_never_followed(
    tmp_path: Path, deep: tuple[Path, list[Entry]]
) -> None:
    root, dirs = deep
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / NAME.decode()).mkdir()  # so that following the link would find a way on
    level = 60  # beyond PATH_LIMIT: reached by descriptor
    fd = walk_down(root, level)  # holds directory number level, which becomes a symlink
    try:
        os.rename(NAME, b"moved", src_dir_fd=fd, dst_dir_fd=fd)
        os.symlink(os.fsencode(outside), NAME, dir_fd=fd)
    finally:
        os.close(fd)
    sink = FilesystemSink(Locator(os.fsencode(root), dirs), owners=False)
    with pytest.raises(EntryError):
        sink.write(Entry(level, b"file"), 3, 0, b"bad")
    assert list(outside.rglob("*")) == [outside / NAME.decode()]


@pytest.mark.parametrize("level", [1, 2])
def test_a_symlink_swapped_in_near_the_target_is_never_followed_either(
    tmp_path: Path, level: int
) -> None:
    """Short paths were used as they are: a user who can write into the target and swaps a
    restored directory for a symlink while root restores had root's files written through it
    (an attack pass, 2026-12-06; restic 0.14 does the same). Every entry is reached by
    descriptor, one component at a time with O_NOFOLLOW, from the target."""
    root, outside = tmp_path / "t", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    dirs = chain(3)
    FilesystemSink(Locator(os.fsencode(root), dirs), owners=False).make_dir(dirs[0])
    sink = FilesystemSink(Locator(os.fsencode(root), dirs), owners=False)
    for entry in dirs[1:]:
        sink.make_dir(entry)
    parent = root.joinpath(*[NAME.decode()] * (level - 1)) if level > 1 else root
    (parent / NAME.decode()).rename(parent / "moved")
    (parent / NAME.decode()).symlink_to(outside)
    way_on = outside.joinpath(*[NAME.decode()] * (3 - level))  # following the link finds it
    way_on.mkdir(parents=True)
    fresh = FilesystemSink(Locator(os.fsencode(root), dirs), owners=False)
    with pytest.raises(EntryError):
        fresh.write(Entry(2, b"file"), 3, 0, b"bad")
    assert not [p for p in outside.rglob("*") if p.is_file()]


def test_descriptors_survive_eviction_by_other_threads(
    deep: tuple[Path, list[Entry]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locator_module, "CACHED_DIRS", 2)
    root, dirs = deep
    sink = FilesystemSink(Locator(os.fsencode(root), dirs), owners=False)
    levels = range(45, LEVELS)  # all below PATH_MAX

    def write(level: int) -> None:
        entry = Entry(level, b"f")
        sink.write(entry, 3, 0, b"%03d" % level)
        sink.finish_file(entry, 3)

    threads = [threading.Thread(target=write, args=(level,)) for level in levels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fd = walk_down(root, 46)  # directory number n is n + 1 levels down
    try:
        for level in levels:
            data = os.read(os.open("f", os.O_RDONLY, dir_fd=fd), 10)
            assert data == b"%03d" % level
            if level == LEVELS - 1:
                break
            below = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)


def test_a_missing_directory_is_an_entry_error(tmp_path: Path) -> None:
    dirs = chain(LEVELS)
    sink = FilesystemSink(Locator(os.fsencode(tmp_path), dirs), owners=False)
    with pytest.raises(EntryError) as failed:
        sink.create_file(Entry(LEVELS - 1, b"f"), 0)
    assert os.strerror(errno.ENOENT) in str(failed.value)
