"""copy's proofs through the real entry point (issue 19): what it says; a source this host may
only read (a directory it may not write, a read-only S3 key) is copied all the same, with one
line saying its ledger was not written and nothing changed in it, while with a key that may
write the proofs land in the source's bucket; a copy killed half-way leaves the source's
ledger readable, and the resumed copy records its proofs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3vault import BackupOptions, InitOptions, RepoOptions, backup, copy, init, open_repository
from s3vault.format.layout import ObjectKind
from s3vault.repository import ledger as ledgers
from tests.cli.test_read_only import NOBODY, ReadOnlyStore, _made
from tests.conftest import PASSWORD, TEST_SETTINGS, RunCli, write_file

INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key")


# The variant that runs everywhere (a directory this user may not write) and the read-only S3
# key; the read-only mount refuses the same way as the first (tests/cli/test_read_only.py).
@pytest.fixture(params=["unprivileged", "s3"])
def store(
    request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    """A source repository this CLI may only read."""
    yield from _made(request.param, request, cli_env, run_cli)


def test_copy_from_a_read_only_source_copies_and_says_it_recorded_no_proof(
    store: ReadOnlyStore,
) -> None:
    """On S3, also: the same copy with the writer's key records its proofs in the source's
    bucket, and fleet computes "last proven" with the read-only key."""
    target = _target(store.scratch / "dr")
    before = store.listing()
    done = store.run("-r", store.url, "copy", "--to", target)
    assert done.code == 0, done.stderr
    assert "2 copied" in done.stdout and "verification ledger" not in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one line: what was not written, and why
    line = lines[0]
    assert line.startswith("warning: the source's verification ledger file was not written: ")
    assert store.refusal in line, line
    assert "Traceback" not in done.stderr
    assert store.listing() == before  # nothing written in the source
    if store.url.startswith("s3://"):
        _copy_as_writer(store.url, _target(store.scratch / "dr2"))
        fleet = store.run("-r", store.url, "--json", "fleet")
        assert fleet.code == 0, fleet.stderr
        rows = [json.loads(x) for x in fleet.stdout.splitlines()]
        (host,) = [r for r in rows if r["message_type"] == "host"]
        assert rows[-1]["proofs"] is True
        # copy proved the data packs; the tree packs its latest snapshot needs are not
        assert host["last_proven"] is None and host["never_proven_bytes"] > 0, host


def _target(path: Path) -> str:
    """An empty repository the reader may write (made in this process)."""
    init(
        RepoOptions(url=str(path), password=PASSWORD.encode()), InitOptions(settings=TEST_SETTINGS)
    )
    if os.geteuid() == 0:  # the unprivileged variant runs the CLI as nobody
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(path)], check=True)
    return str(path)


def _copy_as_writer(url: str, target: str) -> None:
    """Copy with the writer's key (IAM not enforced for it): the proofs land in the bucket."""
    from moto.core.authorization import disable_iam_authentication

    with disable_iam_authentication():
        src = open_repository(RepoOptions(url=url, password=PASSWORD.encode()))
        result = copy(src, open_repository(RepoOptions(url=target, password=PASSWORD.encode())))
        data = {p for p, info in src.list_packs().items() if info.name.startswith("data/")}
        assert result.packs_proven == len(data) > 0
        assert set(ledgers.load(src).proofs) == data
        assert result.ledger_file in src.list_files(ObjectKind.LEDGER)


def _source(tmp_path: Path) -> str:
    """A local source of two data packs of 4 MiB and a tree pack (made in this process)."""
    url = str(tmp_path / "src")
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=tmp_path / "wcache")
    init(options, InitOptions(settings=TEST_SETTINGS))
    data = tmp_path / "data"
    for i in range(20):
        write_file(data / f"f{i}.bin", os.urandom(300_000))
    backup(open_repository(options), BackupOptions(paths=(str(data),)))
    return url


def test_a_copy_killed_half_way_leaves_the_ledger_readable_and_the_resumed_one_records(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = _source(tmp_path)
    dst = str(tmp_path / "dst")
    assert run_cli("-r", dst, *INIT).code == 0
    crash = {**cli_env, "S3VAULT_TEST_CRASH_AT": "pack-stored"}  # the target's first pack
    killed = run_cli("-r", src, "copy", "--to", dst, env=crash)
    assert killed.code in (-9, 137), killed.stderr
    source = open_repository(RepoOptions(url=src, password=PASSWORD.encode()))
    assert source.list_files(ObjectKind.LEDGER) == []  # nothing half-recorded
    resumed = run_cli("-r", src, "--json", "copy", "--to", dst)
    assert resumed.code == 0, resumed.stderr
    summary = json.loads(resumed.stdout.splitlines()[-1])
    data_packs = {p for p, info in source.list_packs().items() if info.name.startswith("data/")}
    assert summary["source_packs_proven"] == len(data_packs) == 2
    ledger = ledgers.load(source)
    assert set(ledger.proofs) == data_packs and not ledger.unreadable
    assert [summary["source_ledger_file"]] == [f.hex() for f in ledger.files]
    text = run_cli("-r", src, "verify", "--coverage", "30d", "--budget", "1")
    assert text.code == 0, text.stderr
    assert "2 source packs read whole" not in text.stdout  # verify's words, not copy's
