"""archiver/excludes.py: exclude files read as restic reads them, variables as Go expands them."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.archiver.excludes import ExcludeRules, expand_variables, read_exclude_file
from s3vault.errors import UsageError

ENV = {"HOME": "/home/ops", "X": "x", "_1": "one"}


@pytest.mark.parametrize(
    ("line", "expanded"),
    [
        ("$HOME/.cache", "/home/ops/.cache"),
        ("${HOME}/tmp", "/home/ops/tmp"),
        ("$UNSET/a", "/a"),  # an unset variable is empty
        ("cost$$", "cost$"),  # $$ is a $
        ("a$", "a$"),  # a $ before nothing stays
        ("a$/b", "a$/b"),  # ... and before anything that makes no name
        ("${}x", "x"),  # Go drops an empty ${}
        ("${HOME", "HOME"),  # ... and an unclosed ${
        ("$_1$X", "onex"),
    ],
)
def test_expand_variables_follows_go_os_expand(line: str, expanded: str) -> None:
    assert expand_variables(line, ENV) == expanded


def test_read_exclude_file_skips_comments_and_blank_lines_and_strips(tmp_path: Path) -> None:
    path = tmp_path / "excludes"
    path.write_bytes(b"\xef\xbb\xbf*.log\n\n  # a comment\n  $HOME/cache  \n#x\n!keep.log\n")
    assert read_exclude_file(path) == ["*.log", "$HOME/cache", "!keep.log"]
    assert read_exclude_file(path, ENV) == ["*.log", "/home/ops/cache", "!keep.log"]


def test_read_exclude_file_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read exclude file"):
        read_exclude_file(tmp_path / "nope")


def test_exclude_rules_gather_options_and_files_in_order(tmp_path: Path) -> None:
    path = tmp_path / "excludes"
    path.write_text("b\n$X\n")
    rules = ExcludeRules.build(("a",), (path,), environ=ENV, exclude_caches=True)
    assert rules.patterns == ("a", "b", "x")
    assert rules.exclude_caches and not rules.one_file_system
