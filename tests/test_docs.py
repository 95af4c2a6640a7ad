"""The documentation's command examples run (issue 7: docs must not rot). Every ```console
block of the pages below is run in order, each `$ ` line as a shell command in one bash
session per page, in a sandbox: a temporary home directory with sample data, the real
`s3vault` entry point on PATH, and for the S3 pages the moto server with the buckets the page
names."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.cli.test_s3 import s3_env
from tests.conftest import S3VAULT, write_file

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


def commands(page: Path) -> list[str]:
    """The `$ ` lines of every console block, in order."""
    out = []
    for block in BLOCK.findall(page.read_text()):
        out += [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    return out


def run_page(page: Path, home: Path, env: dict[str, str]) -> None:
    script = ["set -o pipefail"]
    for i, cmd in enumerate(commands(page)):
        script.append(f"echo {shlex.quote('>>> ' + cmd)}")
        script.append(
            f"{cmd} || {{ echo 'step {i + 1} failed: {cmd.replace(chr(39), '')}' >&2; exit 1; }}"
        )
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env={**env, "HOME": str(home), "PATH": f"{Path(S3VAULT).parent}:{env['PATH']}"},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def sandbox(tmp_path: Path, cli_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    for i in range(8):
        write_file(home / "documents" / f"file{i}.txt", f"document {i}\n".encode() * 200)
    write_file(home / "documents" / "notes.txt", b"notes\n")
    write_file(home / "srv" / "www" / "index.html", b"<html></html>\n" * 100)
    write_file(home / "srv" / "db.dump", os.urandom(300_000))
    write_file(home / ".pw", b"dr runbook password\n")
    env = {k: v for k, v in cli_env.items() if not k.startswith("S3VAULT_")}
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    return home, env


def test_quickstart_runs(tmp_path: Path, cli_env: dict[str, str]) -> None:
    page = DOCS / "quickstart.md"
    assert len(commands(page)) >= 15
    home, env = sandbox(tmp_path, cli_env)
    run_page(page, home, env)
    assert (home / "restored").is_dir()


def test_dr_runbook_runs(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    page = DOCS / "dr.md"
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("acme-backups-eu", "acme-backups-us"):
        s3.create_bucket(Bucket=bucket)
    home, env = sandbox(tmp_path, s3_env(cli_env, s3_server))
    run_page(page, home, env)
    assert (home / "recovered").is_dir()
    listed = subprocess.run(
        [S3VAULT, "-P", "primary", "--json", "snapshots"],
        env={**env, "HOME": str(home), "S3VAULT_CONFIG": str(home / "dr.toml")},
        capture_output=True,
        text=True,
        check=True,
    )
    snaps = json.loads(listed.stdout)["snapshots"]
    # the original and the failover backup copied back: the copy of the original is not
    # copied back a second time
    assert len(snaps) == 2 and sum(bool(s["original"]) for s in snaps) == 1


@pytest.mark.parametrize("page", ["quickstart.md", "dr.md"])
def test_every_runnable_page_is_linked(page: str) -> None:
    assert f"docs/{page}" in (DOCS.parent / "README.md").read_text()


def test_troubleshooting_covers_every_exit_code() -> None:
    from s3vault.errors import ExitCode

    text = (DOCS / "troubleshooting.md").read_text()
    headings = {int(m) for m in re.findall(r"^## (\d+): ", text, re.MULTILINE)}
    assert headings == {int(c) for c in ExitCode}
