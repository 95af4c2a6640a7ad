"""Options records refuse a string where a tuple of strings goes (ops/records.py): Python
iterates it as its characters, and ``BackupOptions(paths="/etc")`` backed up ``/``, ``e``,
``t`` and ``c`` (an attack pass, 2026-12-07). A tag list keeps restic's "a,b" string."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    CopyOptions,
    FindOptions,
    ForgetOptions,
    RepairPacksOptions,
    RestoreOptions,
    SnapshotFilter,
    UsageError,
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: BackupOptions(paths="/etc"),
        lambda: BackupOptions(paths=("/etc",), tags="prod"),
        lambda: BackupOptions(paths=("/etc",), excludes="*.tmp"),
        lambda: RestoreOptions(target=Path("out"), include="/etc"),
        lambda: ForgetOptions(hosts="web1"),
        lambda: CopyOptions(snapshots="latest"),
        lambda: SnapshotFilter(paths="/etc"),
        lambda: FindOptions(patterns="*.conf"),
        lambda: RepairPacksOptions(packs="2e"),
    ],
)
def test_a_string_for_a_tuple_of_strings_is_refused(make: object) -> None:
    with pytest.raises(UsageError, match=r"takes a tuple of strings, not a string: write \('"):
        make()  # type: ignore[operator]


def test_tuples_and_tag_list_strings_are_taken() -> None:
    assert BackupOptions(paths=("/etc",), tags=("prod",)).paths == ("/etc",)
    assert ForgetOptions(tags=("a,b",)).tags == SnapshotFilter(tags=("a,b",)).tags
