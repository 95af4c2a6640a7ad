"""A user with no name: a container's arbitrary uid has no passwd entry and often no $USER or
$LOGNAME. Every command still runs; the records that name a user (snapshot, audit record, key
file) name none, as restic's snapshots then do. getpass raised KeyError there: an internal
error at the end of a backup that had stored all its data, and no snapshot."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cliserver import CliServer

UID = 61_234  # in no passwd database here


@pytest.fixture
def home() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("only root can run a command as a uid that has no passwd entry")
    try:
        pwd.getpwuid(UID)
        pytest.skip(f"uid {UID} has a passwd entry on this machine")
    except KeyError:
        pass
    base = Path(tempfile.mkdtemp(prefix="s3vault-unnamed-"))
    base.chmod(0o755)
    (base / "src").mkdir()
    (base / "src" / "f").write_bytes(b"data of a user with no name")
    for path in (base, base / "src", base / "src" / "f"):
        os.chown(path, UID, UID)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_a_uid_with_no_name_backs_up_and_restores(
    home: Path, cli_server: CliServer | None, cli_env: dict[str, str]
) -> None:
    if cli_server is None:
        pytest.skip("runs its commands as another uid through the fork server")
    names = ("LOGNAME", "USER", "LNAME", "USERNAME")
    env = {k: v for k, v in cli_env.items() if k not in names}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    repo = str(home / "repo")

    def run(*args: str) -> str:
        done = cli_server.run(["-r", repo, *args], env=env, cwd=str(home), user=UID)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    run("init", "--kdf-cost", "minimum", "--no-recovery-key")
    run("backup", str(home / "src"))
    (snapshot,) = json.loads(run("snapshots", "--json"))
    assert snapshot["username"] == ""
    run("restore", "latest", "--target", str(home / "back"))
    assert (home / "back" / str(home / "src" / "f").lstrip("/")).read_bytes().startswith(b"data")
    assert "backup" in run("audit")
