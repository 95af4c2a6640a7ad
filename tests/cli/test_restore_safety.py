"""Restore never writes outside the target, whatever a (forged) snapshot says."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from tests.cli.test_suspend import wait_stopped
from tests.conftest import S3VAULT, RepoHandle, RunCli, write_file


def digest_tree(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(os.fsencode(p))
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def store_tree(repo: Repository, writer: object, nodes: list[Node]) -> ObjectId:
    tid, _ = writer.save(BlobType.TREE, Tree(nodes=tuple(nodes)).encode())  # type: ignore[attr-defined]
    return tid


def file_node(repo: Repository, writer: object, name: bytes, data: bytes) -> Node:
    bid, _ = writer.save(BlobType.DATA, data)  # type: ignore[attr-defined]
    return Node(
        name=name, type=NodeType.FILE, mode=0o644, size=len(data), content=(bid,), content_hash=None
    )


def forge_snapshot(handle: RepoHandle, outside: Path) -> None:
    """A snapshot full of traversal tricks, written with the repository key."""
    repo = handle.open()
    w = repo.blob_writer()
    pwned = file_node(repo, w, b"pwned", b"gotcha")
    evil_dir = store_tree(repo, w, [pwned])
    nodes = [
        file_node(repo, w, b"..", b"dotdot"),
        file_node(repo, w, b".", b"dot"),
        file_node(repo, w, b"../escape", b"slash"),
        file_node(repo, w, os.fsencode(outside / "abs"), b"absolute"),
        file_node(repo, w, b"nul\0name", b"nul"),
        file_node(repo, w, b"..\\win", b"backslash is just a character on POSIX"),
        file_node(repo, w, b"benign.txt", b"keep me"),
        Node(name=b"evil", type=NodeType.SYMLINK, link_target=os.fsencode(outside)),
        Node(name=b"evil", type=NodeType.DIR, mode=0o755, subtree=evil_dir),
        Node(
            name=b"pre",
            type=NodeType.DIR,
            mode=0o755,
            subtree=store_tree(repo, w, [file_node(repo, w, b"inside", b"in")]),
        ),
        Node(
            name=b"hl-a",
            type=NodeType.FILE,
            size=2,
            links=2,
            inode=7,
            device=1,
            content=file_node(repo, w, b"x", b"hl").content,
        ),
        Node(
            name=b"hl-b",
            type=NodeType.FILE,
            size=2,
            links=2,
            inode=7,
            device=1,
            content=file_node(repo, w, b"x", b"hl").content,
        ),
    ]
    root = store_tree(repo, w, nodes)
    w.flush()
    save_snapshot(
        repo,
        SnapshotFile(
            time=datetime(2026, 1, 1, tzinfo=UTC),
            tree=root,
            paths=("/forged",),
            hostname="attacker",
        ),
    )


def test_forged_snapshot_cannot_escape_the_target(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    outside = tmp_path / "outside"
    write_file(outside / "canary", b"do not touch")
    forge_snapshot(local_repo, outside)
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "pre")  # a pre-existing symlink where the snapshot has a dir
    before = digest_tree(outside)

    done = run_cli(
        "--json",
        "-r",
        local_repo.url,
        "--cache-dir",
        str(local_repo.cache),
        "restore",
        "latest",
        "-t",
        str(target),
    )

    assert digest_tree(outside) == before
    assert done.code == 3, done.stderr  # restored, with refused entries reported
    warnings = [json.loads(x) for x in done.stdout.splitlines()]
    items = {w["item"] for w in warnings if w["message_type"] == "warning"}
    for bad in ("/..", "/.", "/../escape", "/nul\0name"):
        assert bad in items
    assert any(i.endswith("abs") for i in items)
    assert "/evil" in items  # the second entry named evil is refused as a duplicate
    assert (target / "benign.txt").read_bytes() == b"keep me"
    assert (target / "..\\win").read_bytes().startswith(b"backslash")
    # the link is neither followed nor removed (on a live system it may be /lib -> usr/lib):
    # left as it is, said, and nothing below it restored
    assert (target / "pre").is_symlink() and os.readlink(target / "pre") == str(outside)
    assert any(i.endswith("/pre") for i in items), items
    assert not (outside / "inside").exists()
    assert os.stat(target / "hl-a").st_ino == os.stat(target / "hl-b").st_ino
    assert (target / "evil").is_symlink()
    assert not (outside / "pwned").exists()


def test_a_target_restore_makes_is_its_owners_alone(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The target restore creates is 0700, as restic makes it: no other user reaches into
    what root restores (a snapshot's setuid file or device node, a directory to swap for a
    symlink while the restore writes below it); the snapshot's own modes hold below it."""
    src = tmp_path / "src"
    write_file(src / "pub" / "f", b"x")
    (src / "pub").chmod(0o755)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "new" / "target"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target))
    assert done.code == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o700
    restored = target / str(src).lstrip("/") / "pub"
    assert restored.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("overwrite", ["always", "if-changed"])
def test_a_users_file_in_the_target_never_becomes_the_snapshots_setuid_root_program(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, overwrite: str
) -> None:
    """A root restore into a directory a user may write: the user plants a file of their own
    there, of the snapshot's size and time (under if-changed any bytes; under always the
    program's own, which any user may read), and keeps it open. The restore found it in
    place and gave that very file root and 4755: the user then wrote their program through
    a shared writable mapping, which keeps the set-id bits, and had a root shell (an attack
    pass, 2026-12-08; restic 0.14 left the file theirs). A file of another owner's is
    written anew now: the program the restore leaves is a new file, root's, the snapshot's
    bytes; the planted file stays the user's, without a set-id bit."""
    if os.geteuid() != 0:
        pytest.skip("a file of another user's, and a setuid-root one, need root to make")
    user = 12_345
    program = write_file(tmp_path / "src" / "bin" / "prog", os.urandom(60_000))
    program.chmod(0o4755)
    os.utime(program, ns=(1_577_836_800_000_000_000, 1_577_836_800_000_000_000))
    assert run_cli("-r", cli_repo, "backup", str(program.parent.parent)).code == 0
    target = tmp_path / "target"
    planted = target / str(program).lstrip("/")
    planted.parent.mkdir(parents=True)
    for d in (target, *(p for p in planted.parents if target in p.parents)):
        os.chown(d, user, user)  # the directories the user may write
    content = program.read_bytes() if overwrite == "always" else os.urandom(60_000)
    planted.write_bytes(content)
    os.chown(planted, user, user)
    os.utime(planted, ns=(1_577_836_800_000_000_000, 1_577_836_800_000_000_000))
    with open(planted, "rb") as held:  # the user's handle on their file
        done = run_cli(
            "-r", cli_repo, "restore", "latest", "-t", str(target), "--overwrite", overwrite
        )
        assert done.code == 0, done.stderr
        theirs = os.fstat(held.fileno())
    assert theirs.st_uid == user and not theirs.st_mode & 0o6000  # theirs, as it was
    now = planted.stat()
    assert now.st_ino != theirs.st_ino and now.st_uid == 0 and now.st_mode & 0o7777 == 0o4755
    assert planted.read_bytes() == program.read_bytes()


def test_a_file_exchanged_between_the_check_and_the_chown_is_never_set(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A root restore of a setuid-root program into a directory a user may write: the file
    was checked by name, then given its owner and mode by name, and a user who exchanged
    their own file for it in between (renameat2 RENAME_EXCHANGE in a loop won 5 of 40 runs)
    had root and 4755 on it, exit 0 (an attack pass, 2026-12-08). The restore stops here
    right after its check: the file is moved away and the user's put in its place. The
    attributes go to the file the restore checked; the user's stays theirs, and the restore
    says what stands at the path."""
    if os.geteuid() != 0:
        pytest.skip("a file of another user's, and a setuid-root one, need root to make")
    user = 12_346
    program = write_file(tmp_path / "src" / "prog", os.urandom(30_000))
    program.chmod(0o4755)
    assert run_cli("-r", cli_repo, "backup", str(program.parent)).code == 0
    target = tmp_path / "target"
    target.mkdir()
    os.chown(target, user, user)
    proc = _restore_stopping(cli_repo, program.parent, target, cli_env, "restore-set-file-checked")
    try:
        wait_stopped(proc)  # checked: the restore's own file, root's
        restored = target / "prog"
        restored.rename(target / "moved")
        write_file(restored, b"the user's own program")
        os.chown(restored, user, user)
    finally:
        proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, (out.decode(), err.decode(), sorted(os.listdir(target)))
    assert "another owner's file: not set" in err.decode()
    theirs = restored.stat()
    assert theirs.st_uid == user and not theirs.st_mode & 0o6000
    moved = (target / "moved").stat()  # the file checked got what it was checked for
    assert moved.st_uid == 0 and stat.S_IMODE(moved.st_mode) == 0o4755


def test_two_files_of_the_restore_exchanged_never_trade_their_owner_and_mode(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A root restore of a setuid-root program and a copy of a shell, both root's and mode
    0600 until their metadata: a user who may write in the target exchanged the two between
    their content and their metadata, and the shell got root and 4755 (`bash -p`: a root
    shell), some runs with exit 0 and no word (an attack pass, 2026-12-08). Each file's owner
    and mode go to the inode the restore made for it: the exchanged files get neither."""
    if os.geteuid() != 0:
        pytest.skip("a setuid-root file needs root to make")
    src = tmp_path / "src"
    shell = write_file(src / "abash", os.urandom(30_000))  # of one size: size tells nothing
    shell.chmod(0o755)
    program = write_file(src / "prog", os.urandom(30_000))
    program.chmod(0o4755)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "target"
    target.mkdir()
    proc = _restore_stopping(cli_repo, src, target, cli_env, "restore-set-file:2")
    try:
        wait_stopped(proc)  # both written, the first one set, the second about to be
        os.rename(target / "abash", target / "x")
        os.rename(target / "prog", target / "abash")
        os.rename(target / "x", target / "prog")
    finally:
        proc.send_signal(signal.SIGCONT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err.decode()
    for path in target.iterdir():
        st = path.stat()
        setuid_shell = path.read_bytes() == shell.read_bytes() and st.st_mode & 0o6000
        assert not setuid_shell, (path, oct(st.st_mode))
    assert "another owner's file: not set" in err.decode()


def _restore_stopping(
    repo: str, directory: Path, target: Path, env: dict[str, str], point: str
) -> subprocess.Popen[bytes]:
    """A restore of ``directory`` of the latest snapshot into ``target`` that stops itself
    (SIGSTOP) at the crash point ``point`` (``name`` or ``name:N``); the test continues it."""
    return subprocess.Popen(
        [S3VAULT, "-r", repo, "restore", f"latest:{directory}", "-t", str(target)],
        env={**env, "S3VAULT_TEST_STOP_AT": point},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_restore_killed_while_it_sets_a_files_owner_finishes_when_run_again(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """Killed right after a file's check, before its owner and mode (the new crash point of
    the pinned metadata): the rerun finds the file part set, writes or keeps it, and leaves
    the snapshot's owner and mode; --verify reads it back whole."""
    src = tmp_path / "src"
    program = write_file(src / "prog", os.urandom(30_000))
    program.chmod(0o4755 if os.geteuid() == 0 else 0o755)
    write_file(src / "data", os.urandom(10_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "target"
    restore = ("-r", cli_repo, "restore", f"latest:{src}", "-t", str(target))
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "restore-set-file-checked"}
    killed = run_cli(*restore, env=env)
    assert killed.code == -9, killed.stderr
    again = run_cli(*restore, "--verify")
    assert again.code == 0, again.stderr
    assert stat.S_IMODE((target / "prog").stat().st_mode) == stat.S_IMODE(program.stat().st_mode)
    assert (target / "prog").read_bytes() == program.read_bytes()
