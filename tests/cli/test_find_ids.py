"""`find --blob/--tree/--pack` (restic's): the files and directories that use given blobs,
trees or packs, the question after a pack is found damaged or missing. The answer is checked
against what a restore loses once that pack is gone."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from s3vault.format.packfile import BlobType
from s3vault.repository.snapshots import find_snapshot, load_snapshot
from tests.conftest import RepoHandle, RunCli, write_file


def _source(src: Path) -> None:
    """Files in several directories, two with the same content, one that spans packs."""
    for d in range(8):
        for f in range(3):
            write_file(src / f"d{d}" / f"f{f}", os.urandom(300_000))
    write_file(src / "same1", b"the same content\n" * 5000)
    write_file(src / "other" / "same2", b"the same content\n" * 5000)
    write_file(src / "big", os.urandom(9 << 20))  # more than two 4 MiB packs
    write_file(src / os.fsdecode(b"odd \xff\nname"), os.urandom(50_000))  # shown escaped


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
    nodes = {n["name"]: n for n in tree["nodes"] if "name" in n}  # the odd name: as bytes
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


def test_find_by_id_goes_past_a_damaged_tree_and_takes_restics_spelling(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    """A tree that does not read is said (exit 13, as find's patterns say it) and the rest is
    searched; an id pasted in capitals is the same id."""
    src = tmp_path / "src"
    write_file(src / "keep" / "a", b"kept")
    write_file(src / "lost" / "b", b"behind a damaged tree")
    base = ("-r", local_repo.url, "--cache-dir", str(tmp_path / "cache"))
    assert run_cli(*base, "backup", "--jobs", "1", str(src)).code == 0
    repo = local_repo.open()
    index = repo.read_index()
    top = repo.load_tree(load_snapshot(repo, find_snapshot(repo, "latest")[0]).tree)
    tid = top.nodes[0].subtree
    for name in os.fsencode(src).strip(b"/").split(b"/")[1:]:  # down to src
        tid = repo.load_tree(tid).find(name).subtree
    nodes = {n.name: n for n in repo.load_tree(tid).nodes}
    data = repo.load_tree(nodes[b"keep"].subtree).nodes[0].content[0].hex()
    loc = index.lookup(BlobType.TREE, nodes[b"lost"].subtree)
    pack = next(p for p in Path(local_repo.url, "tree").rglob(loc.pack_id.hex()))
    raw = bytearray(pack.read_bytes())
    raw[loc.offset + loc.length // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    done = run_cli(*base, "find", "--blob", data[:12].upper())
    assert done.code == 13, done.stderr
    assert "directory cannot be read" in done.stderr, done.stderr
    assert f"{src}/keep/a  (data blob {data[:8]})" in done.stdout, done.stdout
