"""docs/examples/import-restic.py against a real restic repository (skipped without restic)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, write_file
from tests.maintenance.resticrepo import cheapen_key

SCRIPT = Path(__file__).parents[2] / "docs" / "examples" / "import-restic.py"
pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def _environment(tmp_path: Path, cli_repo: str) -> dict[str, str]:
    """The script's environment: restic's repository below ``tmp_path``, s3vault's at
    ``cli_repo``, both passwords, caches of its own, this interpreter's scripts first on the
    path."""
    return {
        **os.environ,
        "RESTIC_REPOSITORY": str(tmp_path / "restic"),
        "RESTIC_PASSWORD": "restic secret",
        "S3VAULT_REPOSITORY": cli_repo,
        "S3VAULT_PASSWORD": PASSWORD,
        # the test's own caches: the user's recorded the repository id of a path an earlier
        # run's repository had, and a new repository there was "replaced" (exit 13)
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def test_a_restic_snapshot_of_a_relative_path_stops_the_import(
    tmp_path: Path, cli_repo: str
) -> None:
    """`cd /srv/site && restic backup . /etc`: restic holds the site's files at the snapshot's
    root but records /srv/site. The script backed up the recorded paths, s3vault said "does not
    exist" (exit 3, which the script took for "some files unreadable"), and the import tagged
    as done held /etc alone. It now stops at that snapshot, naming it, and imports nothing."""
    site = write_file(tmp_path / "srv" / "site" / "html" / "index.html", b"the site").parents[1]
    etc = write_file(tmp_path / "etc" / "app.conf", b"conf").parent
    env = _environment(tmp_path, cli_repo)
    subprocess.run(["restic", "init"], cwd=site, env=env, check=True, capture_output=True)
    cheapen_key(tmp_path / "restic", b"restic secret")
    backup = ["restic", "backup", "-q", ".", str(etc)]
    subprocess.run(backup, cwd=site, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "scratch")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"restic recorded {site}" in done.stderr and "nothing more was imported" in done.stderr
    listed = subprocess.run(
        ["s3vault", "snapshots", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert listed.stdout.strip() == "[]"


def test_a_restic_that_fails_stops_the_import_with_its_own_error_not_a_traceback(
    tmp_path: Path, cli_repo: str
) -> None:
    """A wrong restic password (or a damaged restic pack) ended the script in a Python
    traceback that hid restic's message (a helper's attack pass); now one line says what
    failed and why, with restic's exit code, and nothing is imported."""
    data = write_file(tmp_path / "data" / "f", b"data").parent
    env = _environment(tmp_path, cli_repo)
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    cheapen_key(tmp_path / "restic", b"restic secret")
    subprocess.run(["restic", "backup", "-q", str(data)], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "scratch")],
        env={**env, "RESTIC_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "restic snapshots failed: " in done.stderr and "nothing more was imported" in (
        done.stderr
    )
