"""repair index and repair snapshots through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from s3vault.backend.local import LocalBackend
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import load_snapshot
from tests.conftest import PASSWORD, RunCli, write_file
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


# repair snapshots ----------------------------------------------------------------------------


def open_lib(repo: str) -> Repository:
    handle = Repository.open(LocalBackend(Path(repo)), PASSWORD.encode(), cache_dir=None)
    return handle.with_index(handle.read_index())


def tree_at(repo: Repository, root: ObjectId, path: Path) -> ObjectId:
    """The tree id of an absolute directory path in a snapshot."""
    tid = root
    for part in path.parts[1:]:
        node = repo.load_tree(tid).find(part.encode())
        assert node is not None and node.subtree is not None, part
        tid = node.subtree
    return tid


def backup_json(run_cli: RunCli, repo: str, src: Path) -> str:
    done = run_cli("-r", repo, "backup", str(src), "--json")
    assert done.code == 0, done.stderr
    return str(lines(done.stdout)[-1]["snapshot_id"])


def snapshot_file(repo: str, sid: str) -> Path:
    """The stored file of a snapshot: ``snapshots/<id>.<group tag>``."""
    (path,) = Path(repo, "snapshots").glob(sid + ".*")
    return path


def snapshot_ids(run_cli: RunCli, repo: str) -> list[str]:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    return [str(s["id"]) for s in json.loads(done.stdout)]


def expected_without(
    src: Path, lost_dirs: tuple[str, ...], lost_files: tuple[str, ...]
) -> dict[bytes, object]:
    """What a restore of the repaired snapshot holds: the source, with lost files gone and
    directories whose tree was lost empty (their metadata kept)."""
    tree = dict(snapshot_tree(src))
    for rel in list(tree):
        name = os.fsdecode(rel)
        if name in lost_files or any(name.startswith(d + "/") for d in lost_dirs):
            del tree[rel]
    return tree


def make_source(root: Path) -> Path:
    src = root / "src"
    for d in ("a", "b", "b/deep", "c"):
        for i in range(3):
            write_file(src / d / f"f{i}.bin", os.urandom(20_000 + i))
    return src


def test_repair_snapshots_after_losing_a_tree_pack(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The first backup's tree pack is lost: its snapshot has nothing left (root tree gone);
    the second, whose new trees are in another pack, is rewritten with the directories whose
    trees were lost emptied. After --forget and repair index, verify is clean."""
    src = make_source(tmp_path)
    first = backup_json(run_cli, cli_repo, src)
    write_file(src / "d" / "new.bin", os.urandom(5_000))  # only d and its ancestors change
    second = backup_json(run_cli, cli_repo, src)
    (old_trees,) = [
        p
        for p in packs(cli_repo, "tree")
        if p.stat().st_mtime_ns <= min(q.stat().st_mtime_ns for q in packs(cli_repo, "tree"))
    ]
    old_trees.unlink()
    before = all_objects(cli_repo)
    dry = run_cli("-r", cli_repo, "repair", "snapshots", "--dry-run", "--json")
    assert dry.code == 13, dry.stderr
    assert all_objects(cli_repo) == before  # a dry run changes nothing
    found = {
        str(x["snapshot_id"]): x
        for x in lines(dry.stdout)
        if x["message_type"] == "snapshot_repair"
    }
    assert found[first]["status"] == "unrepairable"
    assert found[second]["status"] == "repaired"
    emptied = {d["path"] for d in found[second]["dropped"]}  # type: ignore[attr-defined]
    assert emptied == {f"{src}/{d}" for d in ("a", "b", "c")}
    kept = run_cli("-r", cli_repo, "repair", "snapshots")
    assert kept.code == 13, kept.stderr  # the first snapshot has nothing to keep and stays
    assert "--forget" in kept.stdout
    done = run_cli("-r", cli_repo, "repair", "snapshots", "--forget", first, "--json")
    assert done.code == 0, done.stderr
    ids = snapshot_ids(run_cli, cli_repo)
    assert first not in ids and second in ids and len(ids) == 2  # the second and its repair
    repaired = next(i for i in ids if i != second)
    assert run_cli("-r", cli_repo, "forget", "--keep-tag", "repaired").code == 0
    assert snapshot_ids(run_cli, cli_repo) == [repaired]
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "restore", repaired[:8], "-t", str(target)).code == 0
    restored = snapshot_tree(target / str(src).lstrip("/"))
    assert restored == expected_without(src, ("a", "b", "c"), ())
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 13  # the index names it
    fixed = run_cli("-r", cli_repo, "repair", "index")
    assert fixed.code == 13 and "pack is missing" in fixed.stderr
    clean = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data")
    assert clean.code == 0, clean.stdout + clean.stderr


def flip_blob(repo: str, btype: BlobType, bid: ObjectId) -> None:
    """Flip a bit in the middle of one blob where the index places it."""
    lib = open_lib(repo)
    loc = lib.index.lookup(btype, bid)
    assert loc is not None
    kind = "tree" if btype is BlobType.TREE else "data"
    name = Path(repo, kind, loc.pack_id.hex()[:2], loc.pack_id.hex())
    flip(name, loc.offset + loc.length // 2)


def test_repair_snapshots_leaves_out_what_is_lost(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """One tree blob and one data blob fail authentication: the repaired snapshot has that
    directory empty and that file left out, and everything else restores exactly."""
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    lib = open_lib(cli_repo)
    snap_tree = load_snapshot(lib, ObjectId.from_hex(sid)).tree
    flip_blob(cli_repo, BlobType.TREE, tree_at(lib, snap_tree, src / "b" / "deep"))
    c_tree = lib.load_tree(tree_at(lib, snap_tree, src / "c"))
    node = c_tree.find(b"f1.bin")
    assert node is not None
    flip_blob(cli_repo, BlobType.DATA, node.content[0])
    # Without reading data, a flipped bit in a data blob is not seen (as verify without
    # --read-data); the unreadable tree is.
    quick = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--dry-run", "--json")
    assert quick.code == 13
    (report,) = [x for x in lines(quick.stdout) if x["message_type"] == "snapshot_repair"]
    assert [(d["path"], d["kind"]) for d in report["dropped"]] == [(f"{src}/b/deep", "dir")]  # type: ignore[union-attr]
    done = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--read-data", "--forget")
    assert done.code == 0, done.stderr
    assert f"emptied directory {src}/b/deep" in done.stdout
    assert f"left out file {src}/c/f1.bin" in done.stdout
    (repaired,) = snapshot_ids(run_cli, cli_repo)
    target = tmp_path / "t"
    restored = run_cli("-r", cli_repo, "--no-cache", "restore", repaired[:8], "-t", str(target))
    assert restored.code == 0, restored.stderr
    assert snapshot_tree(target / str(src).lstrip("/")) == expected_without(
        src, ("b/deep",), ("c/f1.bin",)
    )
    # its summary counts what it holds (snapshots' Size showed the lost files' bytes too)
    files = [p for p in target.rglob("*") if p.is_file() and not p.is_symlink()]
    listed = json.loads(run_cli("-r", cli_repo, "--no-cache", "--json", "snapshots").stdout)
    summary = listed[0]["summary"]
    assert summary["total_files_processed"] == len(files)
    assert summary["total_bytes_processed"] == sum(p.stat().st_size for p in files)
    # Nothing a snapshot needs is damaged any more (the damaged blobs wait for prune).
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0
    again = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--read-data")
    assert again.code == 0
    assert "nothing is damaged" in again.stdout


def test_repair_snapshots_removes_snapshot_files_that_cannot_be_read(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = make_source(tmp_path)
    ids = [backup_json(run_cli, cli_repo, src) for _ in range(3)]
    flipped = snapshot_file(cli_repo, ids[1])
    flip(flipped, flipped.stat().st_size // 2)
    junk_id = "ab" * 32
    Path(cli_repo, "snapshots", junk_id).write_bytes(os.urandom(300))
    before = all_objects(cli_repo)
    dry = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--dry-run")
    assert dry.code == 13
    assert all_objects(cli_repo) == before
    assert dry.stdout.count("the file cannot be read") == 2
    assert "would be removed" in dry.stdout
    done = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--json")
    assert done.code == 0, done.stderr
    reports = [x for x in lines(done.stdout) if x["message_type"] == "snapshot_repair"]
    assert {(x["snapshot_id"], x["status"], x["removed"]) for x in reports} == {
        (ids[1], "unreadable", True),
        (junk_id, "unreadable", True),
    }
    left = sorted(p.name.split(".")[0] for p in Path(cli_repo, "snapshots").iterdir())
    assert left == sorted([ids[0], ids[2]])
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0


def test_repair_snapshots_writes_back_what_this_hosts_cache_holds_intact(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A snapshot file damaged in the store but intact in this host's cache listed and
    restored (from the cache), and `repair snapshots`, the advice, removed it (an attack
    pass, 2026-12-07): it is written back from the cache now."""
    src = make_source(tmp_path)
    ids = [backup_json(run_cli, cli_repo, src) for _ in range(2)]
    assert run_cli("-r", cli_repo, "snapshots").code == 0  # read, and so cached, here
    flipped = snapshot_file(cli_repo, ids[1])
    intact = flipped.read_bytes()
    flip(flipped, flipped.stat().st_size // 2)
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 13
    dry = run_cli("-r", cli_repo, "repair", "snapshots", "--dry-run")
    assert dry.code == 13 and "would be written again from this host's intact" in dry.stdout
    done = run_cli("-r", cli_repo, "repair", "snapshots", "--json")
    assert done.code == 0, done.stderr
    reports = [x for x in lines(done.stdout) if x["message_type"] == "snapshot_repair"]
    assert [(x["snapshot_id"], x["status"], x["removed"]) for x in reports] == [
        (ids[1], "rewritten", False)
    ]
    assert snapshot_file(cli_repo, ids[1]).read_bytes() == intact
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0


def test_repair_snapshots_on_a_clean_repository_changes_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = make_source(tmp_path)
    backup_json(run_cli, cli_repo, src)
    backup_json(run_cli, cli_repo, src)
    before = all_objects(cli_repo)
    for extra in ((), ("--read-data",), ("--forget",)):
        done = run_cli("-r", cli_repo, "repair", "snapshots", *extra)
        assert done.code == 0, done.stderr
        assert "2 snapshots checked: nothing is damaged" in done.stdout

    def data(objects: dict[str, bytes]) -> dict[str, bytes]:
        return {k: v for k, v in objects.items() if not k.startswith("audit/")}

    assert data(all_objects(cli_repo)) == data(before)


def test_a_repair_killed_before_removing_the_original_stores_its_copy_once(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """Killed after the repaired copy is stored and before the original goes, a rerun stored
    a second repaired copy (a third snapshot for one backup). It finds the first."""
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    lib = open_lib(cli_repo)
    snap_tree = load_snapshot(lib, ObjectId.from_hex(sid)).tree
    flip_blob(cli_repo, BlobType.TREE, tree_at(lib, snap_tree, src / "b" / "deep"))
    repair = ("-r", cli_repo, "--no-cache", "repair", "snapshots", "--forget")
    crash = {**cli_env, "S3VAULT_TEST_CRASH_AT": "repair-before-remove"}
    assert run_cli(*repair, env=crash).code == -9
    assert len(snapshot_ids(run_cli, cli_repo)) == 2  # the original and its repaired copy
    done = run_cli(*repair)
    assert done.code == 0, done.stderr
    (left,) = snapshot_ids(run_cli, cli_repo)
    assert left != sid


def test_a_prune_refused_for_lost_data_points_past_repair_index(
    cli_repo: str, run_cli: RunCli, tmp_path: Path
) -> None:
    """An attack pass (2026-12-06): with a data pack gone and `repair index` already run,
    prune's refusal still said "run `s3vault repair index`", the step just taken. It names
    the way on, and that way works: repair snapshots --forget, then prune."""
    write_file(tmp_path / "src" / "lost.bin", os.urandom(200_000))
    write_file(tmp_path / "src" / "kept.txt", b"kept\n")
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0
    for pack in Path(cli_repo, "data").rglob("*"):
        if pack.is_file() and pack.stat().st_size > 100_000:
            pack.unlink()
    assert run_cli("-r", cli_repo, "repair", "index").code == 13
    refused = run_cli("-r", cli_repo, "prune")
    assert refused.code == 13, refused.stderr
    assert "repair snapshots --forget" in refused.stderr, refused.stderr
    assert run_cli("-r", cli_repo, "repair", "snapshots", "--forget").code in (0, 3)
    done = run_cli("-r", cli_repo, "prune")
    assert done.code == 0, done.stderr
