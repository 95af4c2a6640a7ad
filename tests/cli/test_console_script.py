"""The console script as a user starts it: a fresh interpreter per command, not a fork of the
test suite's server (tests/cliserver.py), which has imported every command and module already.
The package root and the command line load what a command uses on first use
(s3vault/__init__.py, s3vault/cli/commands/__init__.py): a module that a command needs and
nothing imports would fail here, and only here, on the way that works and on the ways that fail
(the error messages and exit codes load their own code too)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from tests.cli.test_suspend import signalled_backup
from tests.conftest import CliRun, cli_runner, write_file


def fresh(cli_env: dict[str, str], repo: str) -> tuple[Callable[..., CliRun], Callable[..., str]]:
    """``run(*args)``: a command in a fresh process (no fork server), and ``ok(*args)``: the
    same, asserting exit 0 and returning its stdout."""
    runner = cli_runner(cli_env, None)

    def run(*args: str) -> CliRun:
        return runner("-r", repo, *args)

    def ok(*args: str) -> str:
        done = run(*args)
        assert done.code == 0, f"{args}: {done.stderr}"
        return done.stdout

    return run, ok


def test_the_everyday_commands_run_as_fresh_processes(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost\n")
    write_file(src / "data.bin", os.urandom(300_000))
    out = tmp_path / "out"
    _, run = fresh(cli_env, str(tmp_path / "repo"))

    run("init", "--kdf-cost", "minimum", "--no-recovery-key")
    run("backup", str(src))
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost myhost\n")
    run("backup", str(src), "--tag", "second")
    snaps = json.loads(run("snapshots", "--json"))
    assert len(snaps) == 2
    assert "hosts" in run("ls", "latest")
    assert "hosts" in run("find", "hosts")
    assert "hosts" in run("diff", snaps[0]["short_id"], snaps[1]["short_id"])
    assert run("dump", "latest", str(src / "etc" / "hosts")).endswith("myhost\n")
    run("restore", "latest", "-t", str(out))
    assert (out / src.relative_to("/") / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    run("verify", "--read-data")
    run("restore-test", "latest")
    run("forget", "--keep-last", "1", "--prune")
    run("key", "list")
    run("stats")


def test_the_failing_ways_run_as_fresh_processes(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A missing repository (10), a wrong password (12), a name that is no UTF-8, a damaged
    pack (13) and a SIGTERM (130): each exits with its code and a one-line message."""
    repo = str(tmp_path / "repo")
    run, ok = fresh(cli_env, repo)
    missing = run("snapshots")
    assert missing.code == 10 and missing.stderr.startswith("Fatal: no repository"), missing
    ok("init", "--kdf-cost", "minimum", "--no-recovery-key")
    wrong = cli_runner({**cli_env, "S3VAULT_PASSWORD": "not it"}, None)("-r", repo, "snapshots")
    assert wrong.code == 12 and len(wrong.stderr.splitlines()) == 1, wrong

    src = tmp_path / "src"
    odd = os.fsencode(src) + b"/caf\xe9-\xff"
    write_file(Path(os.fsdecode(odd)), os.urandom(200_000))
    ok("backup", str(src))
    assert "caf\\xe9-\\xff" in ok("ls", "latest")
    needed = sorted(p for p in Path(repo, "data").rglob("*") if p.is_file())  # the snapshot's

    _stopped_backup_exits_130(cli_env, repo, src)
    assert len(json.loads(ok("snapshots", "--json"))) == 1  # the interrupted one made none

    pack = needed[0]  # not a pack the interrupted backup left, which no snapshot needs
    damaged = bytearray(pack.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    pack.write_bytes(bytes(damaged))
    verified = run("verify", "--read-data")
    assert verified.code == 13, verified
    assert "s3vault repair packs" in verified.stderr + verified.stdout


def _stopped_backup_exits_130(cli_env: dict[str, str], repo: str, src: Path) -> None:
    """A backup stopped just before it writes its snapshot, then sent SIGTERM: exit 130."""
    proc, _out, err = signalled_backup(
        src, repo, cli_env, "backup-before-snapshot", (signal.SIGTERM,)
    )
    assert proc.returncode == 130, err.decode()
