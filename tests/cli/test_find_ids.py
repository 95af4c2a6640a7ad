"""`find --blob/--tree/--pack` (restic's): the files and directories that use given blobs,
trees or packs, the question after a pack is found damaged or missing. The answer is checked
against what a restore loses once that pack is gone."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.conftest import RunCli, write_file


def _source(src: Path) -> None:
    """Files in several directories, two with the same content, one that spans packs."""
    for d in range(8):
        for f in range(3):
            write_file(src / f"d{d}" / f"f{f}", os.urandom(300_000))
    write_file(src / "same1", b"the same content\n" * 5000)
    write_file(src / "other" / "same2", b"the same content\n" * 5000)
    write_file(src / "big", os.urandom(9 << 20))  # more than two 4 MiB packs


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _found(run_cli: RunCli, repo: str, *args: str) -> dict[str, set[str]]:
    """find's JSON answer: snapshot id → the paths it names."""
    done = run_cli("-r", repo, "find", "--json", *args)
    assert done.code == 0, done.stderr
    out: dict[str, set[str]] = {}
    for msg in _json_lines(done.stdout):
        if msg["message_type"] == "matches":
            paths = {m["path"] for m in msg["matches"]}  # type: ignore[attr-defined,index]
            out[str(msg["snapshot_id"])] = paths
    return out


def test_find_pack_names_what_a_restore_loses_without_that_pack(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    _source(src)
    assert run_cli("-r", cli_repo, "backup", "--jobs", "1", str(src)).code == 0
    packs = sorted(p for p in Path(cli_repo, "data").rglob("*") if p.is_file())
    assert len(packs) >= 3
    for pack in packs:
        found = _found(run_cli, cli_repo, "--pack", pack.name[:12], "--show-pack-id")
        (named,) = found.values()
        assert named, pack.name
        copy = tmp_path / f"without-{pack.name[:8]}"
        shutil.copytree(cli_repo, copy)
        (copy / "data" / pack.name[:2] / pack.name).unlink()
        restored = run_cli(
            "-r", str(copy), "restore", "latest", "--target", str(tmp_path / "t"), "--json"
        )
        errors = [m for m in _json_lines(restored.stdout) if m["message_type"] == "error"]
        lost = {str(m["item"]) for m in errors}
        assert restored.code != 0 and lost, restored.stderr
        for m in errors:  # the cause (an attack pass: it said "is not in the index")
            assert str(m["message"]).endswith(": the pack that held it is missing from the store")
        assert named == lost, (pack.name, named ^ lost)


def test_find_blob_and_tree_name_their_users_in_every_snapshot(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    _source(src)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    write_file(src / "d0" / "f0", b"changed")  # d0 changes, d1 does not
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    tree = json.loads(run_cli("-r", cli_repo, "cat", "tree", f"latest:{src}").stdout)
    nodes = {n["name"]: n for n in tree["nodes"]}
    shared = nodes["same1"]["content"][0]
    d1 = nodes["d1"]["subtree"]
    by_blob = _found(run_cli, cli_repo, "--blob", shared[:10])
    assert len(by_blob) == 2  # both snapshots
    assert all(
        paths == {str(src / "same1"), str(src / "other" / "same2")} for paths in by_blob.values()
    )
    by_tree = _found(run_cli, cli_repo, "--tree", d1)
    assert list(by_tree.values()) == [{str(src / "d1")}] * 2
    done = run_cli("-r", cli_repo, "find", "--tree", d1[:8], "--show-pack-id", "--long")
    assert done.code == 0, done.stderr
    assert f"{src / 'd1'}  (tree {d1[:8]} in pack " in done.stdout
    assert done.stdout.splitlines()[1].lstrip().startswith("drwx")
    assert "2 matches in 2 snapshots" in done.stdout


def test_find_by_id_says_what_it_cannot_use(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    write_file(tmp_path / "src" / "a", b"a")
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0
    unknown = run_cli("-r", cli_repo, "find", "--pack", "ffff0000")
    assert unknown.code == 0
    assert "warning: ffff0000: no pack in the index has an id starting so" in unknown.stderr
    assert "0 matches in 0 snapshots" in unknown.stdout
    for args, why in (
        (("--blob", "xyz"), "'xyz' is not a blob id"),
        (("--blob", "--tree", "ab"), "--blob, --tree and --pack exclude each other"),
        (("--tree", "-i", "ab"), "apply to patterns, not to ids"),
        (("--show-pack-id", "*.txt"), "--show-pack-id goes with --blob, --tree or --pack"),
    ):
        done = run_cli("-r", cli_repo, "find", *args)
        assert done.code == 2 and why in done.stderr, (args, done.stderr)
