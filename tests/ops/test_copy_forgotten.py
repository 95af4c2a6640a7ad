"""copy says each snapshot as it commits it, and a snapshot forgotten and pruned in the source
while the copy runs is said as such, not as damage (it was exit 13 with "verify --read-data
names the damage", where verify found none: an attack pass, 2026-12-07)."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import BackupOptions, CopyOptions, InitOptions, RepoOptions, backup, copy, init
from s3vault import open_repository as open_repo
from s3vault.format.layout import ObjectKind
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import PASSWORD, TEST_SETTINGS, write_file


def test_a_snapshot_forgotten_while_the_copy_runs_is_no_damage(tmp_path: Path) -> None:
    src, dst = (
        RepoOptions(url=str(tmp_path / name), password=PASSWORD.encode(), cache_dir=None)
        for name in ("src", "dst")
    )
    for options in (src, dst):
        init(options, InitOptions(settings=TEST_SETTINGS))
    for host in ("h1", "h2"):  # two snapshots, their data apart
        write_file(tmp_path / host / "data", os.urandom(200_000))
        backup(open_repo(src), BackupOptions(paths=(str(tmp_path / host),), host=host))
    source = open_repo(src)
    second = max(list_snapshots(source), key=lambda pair: pair[1].time)[0]
    told: list[tuple[str, str]] = []

    def copied(source_id: str, target_id: str) -> None:
        told.append((source_id, target_id))
        if len(told) == 1:  # a forget and a prune of the second meanwhile
            source.delete_object(ObjectKind.SNAPSHOTS, second)
            for info in list(source.backend.list("data/")) + list(source.backend.list("tree/")):
                source.backend.delete(info.name)

    result = copy(source, open_repo(dst), CopyOptions(on_copied=copied))
    assert told == result.copied and len(told) == 1
    assert result.forgotten == [second.hex()]
    assert result.failed == []
