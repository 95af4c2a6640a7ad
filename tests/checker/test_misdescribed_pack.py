"""A pack the index describes otherwise than its own header does (an index file that places
its blobs at each other's places, as a put-only writer's can: design.md §6a): `verify
--read-data` tells the index, not the pack, is wrong and suggests `repair index`, which
indeed mends it."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from s3vault import BackupOptions, InitOptions, backup, init
from s3vault.format.indexfile import IndexFile
from s3vault.format.layout import ObjectKind, object_name
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file


def test_a_pack_the_index_misplaces_is_mended_by_repair_index(
    tmp_path: Path, run_cli: RunCli
) -> None:
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(3000))
    write_file(src / "b.bin", os.urandom(5000))
    backup(handle.open(), BackupOptions(paths=(str(src),), host="h"))
    repo = handle.open()
    (oid,) = repo.list_files(ObjectKind.INDEX)
    ifile = IndexFile.decode(repo.load_file(ObjectKind.INDEX, oid))
    (data,) = [p for p in ifile.packs if len(p.entries) == 2]  # the two files' blobs
    a, b = data.entries
    swapped = (
        replace(a, offset=b.offset, length=b.length, raw_length=b.raw_length),
        replace(b, offset=a.offset, length=a.length, raw_length=a.raw_length),
    )
    packs = tuple(replace(p, entries=swapped) if p is data else p for p in ifile.packs)
    repo.save_file(ObjectKind.INDEX, replace(ifile, packs=packs).encode())
    repo.backend.delete(object_name(ObjectKind.INDEX, oid))  # the only description left

    checked = run_cli("-r", handle.url, "--no-cache", "--json", "verify", "--read-data")
    assert checked.code != 0, checked.stdout
    (finding,) = [
        f
        for f in (json.loads(x) for x in checked.stdout.splitlines())
        if f.get("severity") == "error"
    ]
    assert finding["object"].endswith(data.id.hex())
    assert "`s3vault repair index`" in finding["message"]
    assert "repair packs" not in finding["message"], finding["message"]

    fixed = run_cli("-r", handle.url, "--no-cache", "repair", "index")
    assert fixed.code == 0, fixed.stderr
    again = run_cli("-r", handle.url, "--no-cache", "verify", "--read-data")
    assert again.code == 0, again.stdout + again.stderr
