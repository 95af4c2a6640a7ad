"""archiver/filelists.py: the --files-from lists read as restic 0.17 reads them, globs expanded
as Go's filepath.Glob expands them; and the size units of --exclude-larger-than."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.archiver.excludes import parse_size
from s3vault.archiver.filelists import (
    expand_glob,
    has_glob,
    parse_patterns,
    parse_raw,
    parse_verbatim,
    read_list,
)
from s3vault.errors import UsageError


def test_parse_patterns_strips_lines_and_skips_comments_and_blank_lines() -> None:
    data = b"\xef\xbb\xbf/a\r\n  /b c  \n\n \t \n# comment\n  # indented comment\n/d#e\n/last"
    assert parse_patterns(data) == [b"/a", b"/b c", b"/d#e", b"/last"]


def test_parse_patterns_reads_utf16_with_a_byte_order_mark() -> None:
    data = "/caf\u00e9\r\n# x\n/b\n".encode("utf-16")
    assert parse_patterns(data) == ["/café".encode(), b"/b"]


def test_parse_verbatim_keeps_spaces_and_hashes_and_drops_empty_lines() -> None:
    data = b" /lead\n#hash\n\n/trail \r\n/odd\xff\n"
    assert parse_verbatim(data) == [b" /lead", b"#hash", b"/trail ", b"/odd\xff"]


def test_parse_raw_refuses_an_unended_or_empty_name() -> None:
    assert parse_raw(b"") == []
    assert parse_raw(b"/a\0/b\n\0") == [b"/a", b"/b\n"]
    with pytest.raises(UsageError, match="not followed by a NUL"):
        parse_raw(b"/a\0/b")
    with pytest.raises(UsageError, match="empty name"):
        parse_raw(b"/a\0\0")
    with pytest.raises(UsageError, match="empty name"):
        parse_raw(b"\0")


@given(st.lists(st.binary(min_size=1).filter(lambda b: b"\0" not in b)))
def test_parse_raw_round_trips_any_names(names: list[bytes]) -> None:
    assert parse_raw(b"".join(name + b"\0" for name in names)) == names


def test_read_list_reads_dash_from_the_stream_and_names_an_unreadable_file(
    tmp_path: Path,
) -> None:
    assert read_list("files-from-raw", Path("-"), io.BytesIO(b"/a\0")) == b"/a\0"
    with pytest.raises(UsageError, match=r"--files-from .*missing: cannot read it"):
        read_list("files-from", tmp_path / "missing", None)
    with pytest.raises(UsageError, match="standard input is not available"):
        read_list("files-from", Path("-"), None)


def _tree(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_expand_glob_matches_as_go_filepath_glob(tmp_path: Path) -> None:
    _tree(tmp_path, "a/x.txt", "a/.h.txt", "a/y.log", "b/x.txt", "ab/z", "[lit]", "q?")
    base = os.fsencode(tmp_path)
    assert expand_glob(base + b"/a/*.txt") == [base + b"/a/.h.txt", base + b"/a/x.txt"]
    assert expand_glob(base + b"/*/x.txt") == [base + b"/a/x.txt", base + b"/b/x.txt"]
    assert expand_glob(base + b"/[^a]*/x.txt") == [base + b"/b/x.txt"]
    assert expand_glob(base + b"/a?/*") == [base + b"/ab/z"]
    assert expand_glob(base + b"/\\[lit]") == [base + b"/[lit]"]  # \ escapes
    assert expand_glob(base + b"/q\\?") == [base + b"/q?"]
    assert expand_glob(base + b"/**/x.txt") == [base + b"/a/x.txt", base + b"/b/x.txt"]  # no **
    assert expand_glob(base + b"/nothing*") == []
    assert expand_glob(base + b"/a/x.txt/*") == []  # not a directory: nothing, no error
    assert expand_glob(base + b"/a") == [base + b"/a"]  # literal: as it is, when it exists
    assert expand_glob(base + b"/gone") == []
    with pytest.raises(UsageError, match="not a valid pattern"):
        expand_glob(base + b"/[a")


def test_expand_glob_below_a_root_leaves_the_root_out(tmp_path: Path) -> None:
    _tree(tmp_path, "srv/a/f", "srv/b/f")
    root = os.fsencode(tmp_path)
    assert expand_glob(b"/srv/*/f", root) == [b"/srv/a/f", b"/srv/b/f"]


def test_expand_glob_matches_names_with_odd_bytes(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    with open(base + b"/odd\xff.txt", "wb"):
        pass
    assert expand_glob(base + b"/*.txt") == [base + b"/odd\xff.txt"]


def test_has_glob_knows_the_meta_characters() -> None:
    assert [has_glob(p) for p in (b"/a", b"/a*", b"/a?", b"/[a]", b"/a\\b")] == [
        False,
        True,
        True,
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("512", 512),
        ("512b", 512),
        ("512B", 512),
        ("100k", 100 << 10),
        ("100K", 100 << 10),
        ("10m", 10 << 20),
        ("1G", 1 << 30),
        ("2T", 2 << 40),
        (" 1g ", 1 << 30),
    ],
)
def test_parse_size_reads_restics_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "G", "1.5G", "1GB", "1KiB", "-1", "+1", "1 G", "10X", "9999999999T"]
)
def test_parse_size_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError, match="is not a size"):
        parse_size(text, what="--exclude-larger-than")
