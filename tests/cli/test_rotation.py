"""Master-key rotation through the real CLI (issue 6): key rotate-master starts a new epoch in
every key file; new data uses it; prune --reencrypt rewrites the old data and retires the old
epoch from the config and every key file; a key file copied before the rotation (a leaked old
master key) then opens nothing."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

from s3vault.backend.local import LocalBackend
from s3vault.format.envelope import EnvelopeHeader
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind
from s3vault.repository.keyring import unwrap_key
from s3vault.repository.packheader import read_pack_header
from s3vault.repository.repository import Repository
from tests.conftest import PASSWORD, RunCli, write_file
from tests.timetravel import age_directory
from tests.trees import snapshot_tree


def epochs_in_use(url: str) -> dict[str, set[int]]:
    """Every stored object's key epoch, by kind (packs from their sealed headers)."""
    repo = Repository.open(LocalBackend(Path(url)), PASSWORD.encode())
    found: dict[str, set[int]] = {}
    for kind in (ObjectKind.DATA, ObjectKind.TREE):
        for info in repo.backend.list(kind.value + "/"):
            pack = read_pack_header(repo, info.name, info.size)
            found.setdefault(kind.value, set()).add(pack.epoch)
    for kind in (ObjectKind.INDEX, ObjectKind.SNAPSHOTS, ObjectKind.DELETIONS, ObjectKind.DRILLS):
        for info in repo.backend.list(kind.value + "/"):
            head = repo.backend.get(info.name, 0, 48)
            found.setdefault(kind.value, set()).add(EnvelopeHeader.decode(head).epoch)
    return found


def key_epochs(url: str, password: bytes) -> set[int]:
    """The epochs the key file a password opens holds."""
    for path in (Path(url) / "keys").iterdir():
        keyfile = KeyFile.decode(path.read_bytes())
        try:
            return set(unwrap_key(keyfile, password).master_keys)
        except Exception:
            continue
    raise AssertionError("no key file opens")


def test_rotate_reencrypt_and_retire(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "4", "--no-recovery-key")
    assert run_cli("-r", url, *init, "--min-grace", "1s").code == 0
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(6 << 20))
    for i in range(20):
        write_file(src / "etc" / f"f{i}.conf", f"x = {i}\n".encode() * 30)
    assert run_cli("-r", url, "backup", str(src)).code == 0
    assert run_cli("-r", url, "restore-test", "latest").code == 0
    other = {**cli_env, "S3VAULT_NEW_PASSWORD": "second secret"}
    assert run_cli("-r", url, "key", "add", "--kdf-cost", "minimum", env=other).code == 0
    leaked = tmp_path / "leaked-keys"
    shutil.copytree(Path(url) / "keys", leaked)  # what a thief copied before the rotation

    done = run_cli("-r", url, "--json", "key", "rotate-master")
    assert done.code == 0, done.stderr
    rotated = json.loads(done.stdout.splitlines()[-1])
    assert (rotated["epoch"], rotated["previous"], rotated["key_files"]) == (2, 1, 2)
    for password in (PASSWORD.encode(), b"second secret"):
        assert key_epochs(url, password) == {1, 2}
    write_file(src / "new.bin", os.urandom(1 << 20))
    assert run_cli("-r", url, "backup", str(src)).code == 0
    assert epochs_in_use(url)["data"] == {1, 2}  # new data under epoch 2, old still under 1
    listed = run_cli("-r", url, "--json", "key", "list", "--epochs")
    assert listed.code == 0, listed.stderr
    usage = {e["epoch"]: e for e in json.loads(listed.stdout.splitlines()[-1])["epochs"]}
    assert usage[1]["packs"] > 0 and usage[2]["packs"] > 0 and usage[2]["current"]

    age_directory(url, 1.2)  # simulated time past the grace (tests/timetravel.py)
    first = run_cli("-r", url, "prune", "--reencrypt", "--grace", "1s")
    assert first.code == 0, first.stderr
    assert "re-encrypt" in first.stdout and "stay live" in first.stdout
    age_directory(url, 1.2)
    second = run_cli("-r", url, "--json", "prune", "--reencrypt", "--grace", "1s")
    assert second.code == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert summary["retired_epochs"] == [1], summary

    used = epochs_in_use(url)
    assert set().union(*used.values()) == {2}, used
    for password in (PASSWORD.encode(), b"second secret"):
        assert key_epochs(url, password) == {2}
    assert run_cli("-r", url, "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    assert run_cli("-r", url, "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / src.relative_to("/")) == snapshot_tree(src)
    drills = run_cli("-r", url, "--json", "restore-test", "--history")
    assert drills.code == 0, drills.stderr

    # The old key files (a leaked old master key) open nothing any more.
    thief = tmp_path / "thief"
    shutil.copytree(url, thief)
    shutil.rmtree(thief / "keys")
    shutil.copytree(leaked, thief / "keys")
    refused = run_cli("-r", str(thief), "snapshots")
    assert refused.code != 0
    assert "lacks the master key of epoch 2" in refused.stderr


def test_reencryption_spreads_over_runs_with_a_budget(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    assert run_cli("-r", url, *init, "--min-grace", "1s").code == 0
    src = tmp_path / "src"
    for i in range(6):
        write_file(src / f"f{i}.bin", os.urandom(1 << 20))
    assert run_cli("-r", url, "backup", str(src)).code == 0
    assert run_cli("-r", url, "key", "rotate-master").code == 0

    def old_packs() -> int:
        listed = run_cli("-r", url, "--json", "key", "list", "--epochs")
        epochs = json.loads(listed.stdout.splitlines()[-1])["epochs"]
        return next((e["packs"] for e in epochs if e["epoch"] == 1), 0)

    left = [old_packs()]
    assert left[0] >= 5
    for _ in range(12):  # each run re-encrypts at most 2 MiB of packs
        age_directory(url, 1.1)  # the grace after which the packs re-encrypted before go
        done = run_cli(
            "-r", url, "prune", "--reencrypt", "--max-repack-size", "2M", "--grace", "1s"
        )
        assert done.code == 0, done.stderr
        left.append(old_packs())
        if left[-1] == 0:
            break
    assert left[-1] == 0 and len(left) >= 4, left  # it took several runs
    assert all(a >= b for a, b in itertools.pairwise(left)), left  # never back
    assert run_cli("-r", url, "verify", "--read-data").code == 0


def test_a_reencrypt_repack_of_a_current_epoch_pack_copies_what_it_holds(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """prune --reencrypt that repacks a partly used pack of the current epoch copies its used
    blobs. It copied none (they counted as re-encrypted already, being in a current-epoch
    pack) and marked the pack: the next prune had to unmark it as needed again."""
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "1s")
    assert run_cli("-r", url, *init).code == 0
    old, new = tmp_path / "old", tmp_path / "new"
    for n in range(8):
        write_file(old / f"f{n}", os.urandom(100_000))
    assert run_cli("-r", url, "backup", str(old)).code == 0
    assert run_cli("-r", url, "key", "rotate-master").code == 0
    for n in range(8):  # one pack of the current epoch ...
        write_file(new / f"g{n}", os.urandom(100_000))
    assert run_cli("-r", url, "backup", str(new)).code == 0
    for n in range(6):  # ... of which a quarter stays used
        (new / f"g{n}").unlink()
    assert run_cli("-r", url, "backup", str(new)).code == 0
    assert run_cli("-r", url, "forget", "--keep-last", "1", "--path", str(new)).code == 0
    age_directory(url, 1.2)
    assert run_cli("-r", url, "prune", "--reencrypt", "--grace", "1s").code == 0
    age_directory(url, 1.2)
    done = run_cli("-r", url, "--json", "prune", "--grace", "1s")
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["packs_unmarked"] == 0, summary
    assert run_cli("-r", url, "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    assert run_cli("-r", url, "restore", "latest", "--path", str(new), "-t", str(target)).code == 0
    assert snapshot_tree(target / new.relative_to("/")) == snapshot_tree(new)
