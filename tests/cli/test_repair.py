"""repair index and repair snapshots through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.trees import snapshot_tree


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines()]


def packs(repo: str, kind: str = "data") -> list[Path]:
    return sorted(p for p in Path(repo, kind).rglob("*") if p.is_file())


def all_objects(repo: str) -> dict[str, bytes]:
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in Path(repo).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def flip(path: Path, pos: int, bit: int = 0x04) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= bit
    path.write_bytes(bytes(data))


@pytest.fixture
def two_snapshots(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> tuple[Path, Path, Path]:
    """Two backups of a tree of many small files (several data packs); returns the source and
    a copy of it as the first backup saw it."""
    src = tmp_path / "src"
    for i in range(60):
        write_file(src / f"d{i % 6}" / f"f{i}.bin", os.urandom(120_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    first = tmp_path / "first"
    shutil.copytree(src, first, symlinks=True)
    for i in range(0, 60, 7):
        write_file(src / f"d{i % 6}" / f"f{i}.bin", os.urandom(120_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    return src, first, tmp_path


def restore_tree(
    run_cli: RunCli, repo: str, snap: str, target: Path, src: Path
) -> dict[bytes, object]:
    if target.exists():
        shutil.rmtree(target)
    run_cli("-r", repo, "--no-cache", "restore", snap, "-t", str(target))
    root = target / str(src).lstrip("/")
    return dict(snapshot_tree(root)) if root.exists() else {}


def test_repair_index_keeps_blobs_of_a_pack_whose_header_is_damaged(
    two_snapshots: tuple[Path, Path, Path], cli_repo: str, run_cli: RunCli
) -> None:
    """Defect 3: one bit flipped in a data pack's header; every file of both snapshots still
    restores, and after repair index every file still restores (the old repair dropped the
    whole pack from the index)."""
    src, first, tmp = two_snapshots
    expected = {"latest~1": snapshot_tree(first), "latest": snapshot_tree(src)}
    victim = packs(cli_repo)[0]
    flip(victim, victim.stat().st_size - 10)  # inside the sealed header's tag
    for snap, tree in expected.items():
        assert restore_tree(run_cli, cli_repo, snap, tmp / "before", src) == tree
    done = run_cli("-r", cli_repo, "repair", "index")
    for snap, tree in expected.items():
        assert restore_tree(run_cli, cli_repo, snap, tmp / "after", src) == tree, snap
    assert done.code == 13, done.stderr  # the header stays damaged: said, and exit 13
    assert victim.relative_to(cli_repo).as_posix() in done.stderr
    assert "they read back intact" in done.stderr
    verdict = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data", "--json")
    assert verdict.code == 13
    (finding,) = [x for x in lines(verdict.stdout) if x.get("severity") == "error"]
    assert finding["object"] == victim.relative_to(cli_repo).as_posix()
    assert "no snapshot needs it" not in str(finding["message"])
    assert "nothing is lost" in str(finding["message"])
    assert finding["snapshots"]
