"""A damaged local cache is no damage of the repository. A bit flipped in a cached tree pack
(a failing disk on the host; a file a power loss zeroed has the same effect) made verify report
lost content (exit 13, advice: repair snapshots), ls and prune exit 13, and the advised
`repair snapshots --forget` replaced the healthy snapshot by an empty one and removed the
original, after which verify passed: data loss through the documented recovery path. Found by
an operator-style attack. A cached copy that fails its check is dropped and the store's copy
read instead; only the store's copy failing is damage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.trees import snapshot_tree


def _damage_cached_tree_packs(cache: Path, how: str) -> int:
    damaged = 0
    for path in cache.rglob("*"):
        if path.is_file() and "tree" in path.parent.parts:
            data = bytearray(path.read_bytes())
            if how == "flip":
                data[len(data) // 2] ^= 1
            else:
                data = bytearray(len(data))  # zeroed, the size kept
            path.write_bytes(bytes(data))
            damaged += 1
    return damaged


@pytest.mark.parametrize("how", ["flip", "zeroed"])
def test_a_damaged_cached_tree_pack_is_read_again_from_the_store(
    cli_repo: str, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], how: str
) -> None:
    src = tmp_path / "src"
    for i in range(3):
        write_file(src / "a" / "b" / f"f{i}", os.urandom(50_000))
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    (snap,) = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    cache = Path(cli_env["XDG_CACHE_HOME"])
    for command in (("ls", "latest"), ("verify",), ("prune",), ("repair", "snapshots", "--forget")):
        assert _damage_cached_tree_packs(cache, how) >= 1
        done = run_cli("-r", cli_repo, *command)
        assert done.code == 0, (command, done.stdout, done.stderr)
        assert "the local cache's copy failed its check" in done.stderr or command == ("verify",)
    (after,) = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    assert after["id"] == snap["id"]  # the snapshot was not "repaired" away
    out = tmp_path / "out"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(out)).code == 0
    assert snapshot_tree(out / str(src).lstrip("/")) == snapshot_tree(src)
