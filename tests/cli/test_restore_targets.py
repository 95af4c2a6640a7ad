"""Odd targets and selections: one clear line and a documented exit code, never an internal
error; an empty --target is refused (an unset $DEST must not restore into the current
directory); a selection that matches nothing is a warning and exit 3."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cliserver import CliServer
from tests.conftest import PASSWORD, S3VAULT, RunCli, write_file
from tests.readonly import mount_tmpfs


@pytest.fixture
def backed_up(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> tuple[str, Path]:
    src = tmp_path / "src"
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost\n")
    write_file(src / "srv" / "www" / "index.html", b"<html>\n")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    return cli_repo, src


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "internal error" not in text
    return lines[0]


@pytest.mark.parametrize("command", ["restore", "restore-test"])
def test_an_empty_target_is_refused_and_nothing_is_written(
    tmp_path: Path, backed_up: tuple[str, Path], cli_env: dict[str, str], command: str
) -> None:
    repo, _src = backed_up
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = [S3VAULT, "-r", repo, command, *(["latest"] if command == "restore" else []), "-t", ""]
    done = subprocess.run(args, cwd=cwd, env=cli_env, capture_output=True, check=False)
    assert done.returncode == 2, done.stderr
    assert b"is empty" in done.stderr
    assert list(cwd.iterdir()) == []


def test_a_file_as_target_is_one_line_exit_1(
    tmp_path: Path, backed_up: tuple[str, Path], run_cli: RunCli
) -> None:
    repo, _src = backed_up
    in_the_way = write_file(tmp_path / "a-file", b"keep")
    done = run_cli("-r", repo, "restore", "latest", "-t", str(in_the_way))
    assert done.code == 1
    assert "exists and is not a directory" in one_line(done.stderr)
    below = run_cli("-r", repo, "restore", "latest", "-t", str(in_the_way / "sub"))
    assert below.code == 1
    assert "cannot create the restore target" in one_line(below.stderr)
    drill = run_cli("-r", repo, "restore-test", "--no-record", "-t", str(in_the_way))
    assert drill.code == 1
    assert "exists and is not a directory" in one_line(drill.stderr)
    assert in_the_way.read_bytes() == b"keep"
    # a symbolic link that leads nowhere or loops was called a non-directory too
    for name, to, way in (("dangling", "missing", "leads nowhere"), ("loop", "loop", "loops")):
        (tmp_path / name).symlink_to(tmp_path / to)
        done = run_cli("-r", repo, "restore", "latest", "-t", str(tmp_path / name))
        assert done.code == 1
        assert f"is a symbolic link that {way}: name a directory" in one_line(done.stderr)


def test_a_target_under_proc_is_one_line_exit_1(
    backed_up: tuple[str, Path], run_cli: RunCli
) -> None:
    repo, _src = backed_up
    done = run_cli("-r", repo, "restore", "latest", "-t", "/proc/self/s3vault-restore")
    assert done.code == 1
    assert "cannot create the restore target /proc/self/s3vault-restore" in one_line(done.stderr)


def _mount_read_only(where: Path) -> None:
    """An empty read-only tmpfs at ``where``, where this test may mount one (else skip)."""
    reason = mount_tmpfs(where, "ro,size=1m")
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty read-only file system (a tmpfs mounted ro), where this test may mount one."""
    where = tmp_path / "ro"
    where.mkdir()
    _mount_read_only(where)
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_read_only_target_is_one_line_exit_1(
    read_only_dir: Path, backed_up: tuple[str, Path], run_cli: RunCli
) -> None:
    repo, _src = backed_up
    done = run_cli("-r", repo, "restore", "latest", "-t", str(read_only_dir))
    assert done.code == 1
    line = one_line(done.stderr)
    assert f"cannot write into the restore target {read_only_dir}: read-only file system" in line
    below = run_cli("-r", repo, "restore", "latest", "-t", str(read_only_dir / "new"))
    assert below.code == 1
    assert "Read-only file system" in one_line(below.stderr)


def test_a_read_only_mount_inside_the_target_refuses_its_entries_and_the_rest_is_restored(
    tmp_path: Path, backed_up: tuple[str, Path], run_cli: RunCli
) -> None:
    """A read-only bind mount in the tree restored into (a container's, /boot/efi) stopped
    the whole restore at its first file, exit 1, nothing else restored (an attack pass,
    2026-12-07). Its entries are refused, each said (exit 3), as usage.md says of what the
    target refuses."""
    repo, src = backed_up
    target = tmp_path / "out"
    inside = target / str(src).lstrip("/") / "etc"
    inside.mkdir(parents=True)
    _mount_read_only(inside)
    try:
        done = run_cli("-r", repo, "restore", "latest", "-t", str(target))
    finally:
        subprocess.run(["umount", str(inside)], check=True)
    assert done.code == 3, done.stderr
    assert f"{src}/etc/hosts: cannot create file: Read-only file system" in done.stderr
    restored = target / str(src).lstrip("/") / "srv" / "www" / "index.html"
    assert restored.read_bytes() == b"<html>\n"


@pytest.fixture
def unprivileged(cli_repo: str) -> Iterator[tuple[list[str], Path]]:
    """A command prefix that runs as nobody, a world-readable copy of the repository, and a
    directory nobody may not write."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    base = Path(tempfile.mkdtemp(prefix="s3vault-unpriv-"))
    os.chmod(base, 0o755)
    try:
        shutil.copytree(cli_repo, base / "repo")
        for path in [base / "repo", *(base / "repo").rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (base / "locked").mkdir(mode=0o555)
        (base / "cache").mkdir(mode=0o777)
        os.chmod(base / "cache", 0o777)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", S3VAULT]
        prefix += ["-r", str(base / "repo"), "--cache-dir", str(base / "cache")]
        yield prefix, base / "locked"
    finally:
        shutil.rmtree(base)


def test_an_unwritable_target_is_one_line_exit_1(
    backed_up: tuple[str, Path],
    unprivileged: tuple[list[str], Path],
    cli_env: dict[str, str],
) -> None:
    prefix, locked = unprivileged
    env = {**cli_env, "S3VAULT_PASSWORD": PASSWORD}
    for target, message in (
        (locked, f"cannot write into the restore target {locked}: permission denied"),
        (locked / "new", f"cannot create the restore target {locked / 'new'}: Permission denied"),
    ):
        done = subprocess.run(
            [*prefix, "restore", "latest", "-t", str(target)],
            env=env,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        errors = [line for line in done.stderr.decode().splitlines() if line.startswith("Fatal")]
        assert errors == [f"Fatal: {message}"]
    assert list(locked.iterdir()) == []


def test_an_include_that_matches_nothing_warns_and_exits_3(
    tmp_path: Path, backed_up: tuple[str, Path], run_cli: RunCli
) -> None:
    repo, src = backed_up
    target = tmp_path / "t"
    done = run_cli("-r", repo, "restore", "latest", "-t", str(target), "--include", "/nothing/")
    assert done.code == 3
    assert "nothing in snapshot" in done.stderr
    assert "--include '/nothing/'" in done.stderr
    as_json = run_cli("--json", "-r", repo, "restore", "latest", "-t", str(target), "-i", "/x/")
    assert as_json.code == 3
    warnings = [
        w for w in map(json.loads, as_json.stdout.splitlines()) if w["message_type"] == "warning"
    ]
    assert len(warnings) == 1
    assert "nothing was restored" in warnings[0]["message"]
    everything_excluded = run_cli("-r", repo, "restore", "latest", "-t", str(target), "-e", "*")
    assert everything_excluded.code == 3
    matched = run_cli("-r", repo, "restore", "latest", "-t", str(target), "-i", f"{src}/etc/")
    assert matched.code == 0, matched.stderr
    assert (target / str(src).lstrip("/") / "etc" / "hosts").exists()
    assert not (target / str(src).lstrip("/") / "srv").exists()


def test_an_include_that_selects_only_a_socket_warns_and_exits_3(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`--include sock` selecting a socket alone said "0 files", exit 0: a script believed it
    restored something (an attack pass, 2026-12-07)."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--include", "sock")
    assert done.code == 3, done.stderr
    assert "selects only sockets" in done.stderr and "nothing was restored" in done.stderr
    both = run_cli("-r", cli_repo, "restore", "latest", "-t", str(tmp_path / "u"), "-i", "*")
    assert both.code == 0, both.stderr  # the file too: no warning


def test_restore_test_of_an_empty_selection_warns_and_exits_3(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    empty = tmp_path / "empty"
    (empty / "only" / "directories").mkdir(parents=True)
    assert run_cli("-r", cli_repo, "backup", str(empty)).code == 0
    for args in ((), ("--sample", "5"), ("--no-disk",)):
        done = run_cli("--json", "-r", cli_repo, "restore-test", *args)
        assert done.code == 3, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [w["message_type"] for w in lines] == ["warning", "summary"]
        assert "proves nothing" in lines[0]["message"]
        assert lines[1]["passed"] is False


AsOwner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def as_owner() -> AsOwner:
    """Run ``s3vault ARGV`` as a user the file modes bind: as it is when not root, through
    setpriv without capabilities when root (skipped where setpriv is missing)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root without setpriv: the file modes would not bind")
        prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]

    def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [*prefix, S3VAULT, *argv]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    return run


def _backed_up_with_modes(run_cli: RunCli, repo: str, src: Path, modes: dict[str, int]) -> None:
    """Back up ``src`` with its directories ``modes`` set (as root), then open them again."""
    for name, mode in modes.items():
        (src / name).chmod(mode)
    try:
        assert run_cli("-r", repo, "backup", str(src)).code == 0
    finally:
        for name in modes:
            (src / name).chmod(0o755)


def test_a_directory_its_owner_may_write_but_not_read_is_restored_into_again(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli, as_owner: AsOwner
) -> None:
    """A second restore (as an owner, not root) into a target with a drop-box directory (mode
    0333: search and write, no read) said "cannot create file: Permission denied" and exited
    3, where the first succeeded and restic's second does (an attack pass, 2026-12-07)."""
    src = tmp_path / "src"
    write_file(src / "drop" / "f", b"x\n")
    _backed_up_with_modes(run_cli, cli_repo, src, {"drop": 0o333})
    target = tmp_path / "target"
    for n, present in ((1, 0), (2, 1)):
        done = as_owner("-r", cli_repo, "restore", "latest", "--target", str(target), env=cli_env)
        assert done.returncode == 0, (n, done.stderr)
        assert f"({present} already present)" in done.stdout + done.stderr, done.stdout
    restored = target / str(src).lstrip("/") / "drop"
    assert restored.stat().st_mode & 0o777 == 0o333
    restored.chmod(0o755)
    assert (restored / "f").read_bytes() == b"x\n"


def test_a_changed_file_in_a_directory_its_owner_may_not_write_is_restored_in_place(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli, as_owner: AsOwner
) -> None:
    """A restore as an owner into a target whose directory of mode 0111 holds a changed file
    said "cannot create file: Permission denied", exit 3, and left the change, where restic
    writes the file in place (an attack pass, 2026-12-07)."""
    src = tmp_path / "src"
    write_file(src / "d111" / "b", b"the backed-up bytes, longer than the change\n")
    _backed_up_with_modes(run_cli, cli_repo, src, {"d111": 0o111})
    argv = ("-r", cli_repo, "restore", "latest", "--target", str(tmp_path / "target"))
    first = as_owner(*argv, env=cli_env)
    assert first.returncode == 0, first.stderr
    restored = tmp_path / "target" / str(src).lstrip("/") / "d111" / "b"
    restored.write_bytes(b"CHANGED\n")  # as root: the owner's own edit
    again = as_owner(*argv, env=cli_env)
    assert again.returncode == 0, again.stderr
    assert restored.read_bytes() == b"the backed-up bytes, longer than the change\n"
    if os.geteuid() != 0:
        return  # what follows plants another user's file
    os.chown(restored, 65534, 65534)  # another user's file there: said as such, not written
    restored.chmod(0o666)
    restored.write_bytes(b"theirs\n")
    refused = as_owner(*argv, env=cli_env)
    assert refused.returncode == 3, refused.stderr
    assert "the file there belongs to uid 65534" in refused.stderr, refused.stderr
    assert restored.read_bytes() == b"theirs\n"


def test_a_drill_as_an_owner_removes_what_it_restored_whatever_the_modes(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli, as_owner: AsOwner
) -> None:
    """A drill run as an owner, not root, of a snapshot holding directories of mode 0555 and
    0333 left its whole restored plain text in $TMPDIR, even when it passed, and no later
    drill removed it; one of mode 0000 failed it with "damage found", its proof shut out of
    its own restore (an attack pass, 2026-12-07)."""
    src = tmp_path / "src"
    modes = {"ro": 0o555, "drop": 0o333, "closed": 0o000, "search": 0o111}
    for name in modes:
        write_file(src / name / "secret", b"plain text\n")
        write_file(src / name / "deeper" / "secret", b"plain text\n")
    write_file(src / "ok" / "fine", b"fine\n")
    _backed_up_with_modes(run_cli, cli_repo, src, modes)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**cli_env, "TMPDIR": str(tmp)}
    done = as_owner("-r", cli_repo, "restore-test", "--no-record", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    assert list(tmp.iterdir()) == []


def test_a_users_second_restore_enters_a_directory_of_mode_0000_it_restored(
    tmp_path: Path, run_cli: RunCli, cli_server: CliServer | None, cli_env: dict[str, str]
) -> None:
    """A snapshot with a directory of mode 0000: a user's restore makes it, fills it, and
    sets its mode last; the same restore again (as the docs say, to finish one) said "cannot
    create file: Permission denied" of everything below it, exit 3 (an attack pass,
    2026-12-08). The restore opens its own directory to itself until its mode is set again."""
    if os.geteuid() != 0 or cli_server is None:
        pytest.skip("runs the restore as another uid through the fork server")
    uid = 61_235
    base = Path(tempfile.mkdtemp(prefix="s3vault-closed-"))
    try:
        src = write_file(base / "src" / "closed" / "x", b"inside")
        repo = str(base / "repo")
        assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
        (src.parent).chmod(0)
        assert run_cli("-r", repo, "backup", str(base / "src")).code == 0
        for path in (base, *base.rglob("*")):
            os.chown(path, uid, uid, follow_symlinks=False)
        env = {**cli_env, "HOME": str(base), "XDG_CACHE_HOME": str(base / "cache")}
        back = base / "back"
        for _ in range(2):
            done = cli_server.run(
                ["-r", repo, "restore", "latest", "-t", str(back)], env=env, user=uid
            )
            assert done.returncode == 0, done.stderr.decode()
        closed = back / str(src.parent).lstrip("/")
        assert stat.S_IMODE(closed.stat().st_mode) == 0  # its mode, set again at the end
        closed.chmod(0o700)
        assert (closed / "x").read_bytes() == b"inside"
    finally:
        for path in (base, *base.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)
