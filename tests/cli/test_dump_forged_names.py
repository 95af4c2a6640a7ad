"""dump of a forged snapshot (an attack pass, 2026-12-06): names restore refuses (``..``, a
name with a slash) are left out of tar and zip archives, each said, exit 13, and nothing below
a refused directory goes in. The old dump wrote members such as ``../../outside/dd`` and
``zz/../pwn``, which ``tar -xP`` wrote outside the directory it extracted into."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import RepoHandle, RunCli
from tests.restorer.forge import Forge


@pytest.mark.parametrize("archive", ["tar", "zip"])
def test_dump_leaves_out_the_names_restore_refuses(
    local_repo: RepoHandle, run_cli: RunCli, tmp_path: Path, archive: str
) -> None:
    forge = Forge(local_repo.open())
    inner = forge.tree([forge.file(b"pwn", b"planted\n")])
    forge.finish(
        forge.tree(
            [
                forge.file(b"..", b"up\n"),
                forge.file(b"../../outside/dd", b"escaped\n"),
                forge.dir(b"zz", forge.tree([forge.dir(b"..", inner)])),
                forge.file(b"fine.txt", b"fine\n"),
                forge.file(b"caf\xe9 \x1b[31m.txt", b"odd bytes, kept\n"),  # no UTF-8, ESC
            ]
        )
    )
    done = run_cli(
        "-r",
        local_repo.url,
        "--cache-dir",
        str(local_repo.cache),
        "dump",
        "-a",
        archive,
        "latest",
        "/",
    )
    assert done.code == 13, done.stderr
    assert done.stderr.count("left out of the archive") == 3, done.stderr
    data = io.BytesIO(done.stdout_bytes)
    if archive == "tar":
        with tarfile.open(fileobj=data) as tar:
            names = tar.getnames()
    else:
        with zipfile.ZipFile(data) as zf:
            names = zf.namelist()
    assert not any(".." in name.split("/") for name in names), names
    assert any(name.endswith("fine.txt") for name in names), names
    assert sum(".txt" in name for name in names) == 2, names  # the odd name is a safe one
