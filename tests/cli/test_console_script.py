"""The console script as a user starts it: a fresh interpreter per command, not a fork of the
test suite's server (tests/cliserver.py), which has imported every command and module already.
The package root and the command line load what a command uses on first use
(s3vault/__init__.py, s3vault/cli/commands/__init__.py): a module that a command needs and
nothing imports would fail here, and only here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import S3VAULT, write_file


def test_the_everyday_commands_run_as_fresh_processes(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost\n")
    write_file(src / "data.bin", os.urandom(300_000))
    repo = str(tmp_path / "repo")
    out = tmp_path / "out"

    def run(*args: str) -> str:
        done = subprocess.run(
            [S3VAULT, "-r", repo, *args], env=cli_env, capture_output=True, check=False
        )
        assert done.returncode == 0, f"{args}: {done.stderr.decode()}"
        return done.stdout.decode()

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
