"""The key-substitution attack of design.md §13 ("Found while designing §6a"): whoever can
write to the store replaces a key file's payload (anyone can seal to its public key) and the
config. A key file that pins the repository's identity (Σ inside its wrapped secret) refuses;
one written before the pin is fooled, and `key list` / `doctor` say how to replace it."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from s3vault import DoctorOptions, doctor
from s3vault.crypto import aead, kdf, sealbox
from s3vault.crypto.keys import MasterKey
from s3vault.format.configfile import ConfigFile, ConfigMarker, KeyEpoch
from s3vault.format.envelope import SealedKind
from s3vault.format.keyfile import KdfSpec, KeyFile, KeyPayload, Sealed
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId
from s3vault.repository import keyring
from s3vault.repository.sealer import Sealer
from tests.conftest import PASSWORD, RepoHandle, RunCli


def _substitute(repo_dir: Path, key_name: str) -> None:
    """The attacker: a payload and config of its own making, the key file's wrapped private
    key left as it was (it knows no password)."""
    victim = KeyFile.decode((repo_dir / key_name).read_bytes())
    marker = ConfigMarker.decode((repo_dir / "config").read_bytes())
    master = MasterKey.generate(marker.repo_id, 1, os.urandom(32))
    forged = keyring.seal_payload(
        victim, KeyPayload(identity=master.identity, master_keys={1: master.secret})
    )
    (repo_dir / key_name).write_bytes(forged.encode())
    config = ConfigFile(
        repo_id=marker.repo_id,
        current_epoch=1,
        epochs=(KeyEpoch(epoch=1, check=master.check_value),),
        created="2026-12-05T00:00:00+00:00",
    )
    sealed = Sealer({1: master}, 1).seal_file(SealedKind.CONFIG, config.encode())
    (repo_dir / "config").write_bytes(replace(marker, sealed=sealed).encode())


def _unpinned_key(repo: RepoHandle, password: bytes) -> KeyFile:
    """A key file as releases before the pin wrote it: the private key alone is wrapped."""
    opened = repo.open()
    params = kdf.new_params("minimum")
    private, public = sealbox.new_keypair()
    draft = KeyFile(
        id=ObjectId(os.urandom(32)),
        repo_id=opened.id,
        public=public,
        kdf=KdfSpec(
            alg=params.alg,
            memory_kib=params.memory_kib,
            iterations=params.iterations,
            lanes=params.lanes,
            salt=params.salt,
        ),
    )
    nonce = aead.new_nonce()
    ct = aead.seal(kdf.derive_kek(password, params), nonce, private, draft.secret_aad())
    keyfile = keyring.seal_payload(
        replace(draft, wrap=Sealed(nonce=nonce, ct=ct)), opened.sealer.payload()
    )
    opened.store_key_file(keyfile, lambda k: keyring.unwrap_key(k, password))
    return keyfile


def test_a_pinned_key_refuses_a_substituted_payload_and_config(
    cli_repo: str, run_cli: RunCli
) -> None:
    repo_dir = Path(cli_repo)
    (key_name,) = [f"keys/{p.name}" for p in (repo_dir / "keys").iterdir()]
    listed = json.loads(run_cli("-r", cli_repo, "--json", "key", "list").stdout)
    assert [k["pinned"] for k in listed] == [True]
    _substitute(repo_dir, key_name)
    done = run_cli("-r", cli_repo, "snapshots")
    assert done.code == 12, done.stderr
    assert "not the repository this key was made for" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unpinned_key_is_named_with_its_fix_and_is_what_the_attack_fools(
    local_repo: RepoHandle, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    old = _unpinned_key(local_repo, b"old password")
    shown = run_cli("-r", local_repo.url, "key", "list")
    assert shown.code == 0, shown.stderr
    assert f"{old.id.hex()[:8]}  password  full" in shown.stdout
    assert "(not pinned)" in shown.stdout and "key passwd (with a NEW password)" in shown.stdout
    result = doctor(DoctorOptions(url=local_repo.url), opener=local_repo.open)
    (pinning,) = [c for c in result.checks if c.item == "key pinning"]
    assert old.id.hex()[:8] in pinning.detail and "key passwd" in pinning.fix
    # the weakness itself: the old key opens the attacker's repository without a word ...
    _substitute(Path(local_repo.url), object_name(ObjectKind.KEYS, old.id))
    fooled = {**cli_env, "S3VAULT_PASSWORD": "old password"}
    assert run_cli("-r", local_repo.url, "snapshots", env=fooled).code == 0
    # ... while the pinned one, whose payload is whole, finds the config tampered with
    pinned = {**cli_env, "S3VAULT_PASSWORD": PASSWORD}
    refused = run_cli("-r", local_repo.url, "snapshots", env=pinned)
    assert refused.code == 13 and "config object" in refused.stderr


def test_key_passwd_replaces_an_unpinned_key_by_a_pinned_one(
    local_repo: RepoHandle, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    _unpinned_key(local_repo, b"old password")
    env = {**cli_env, "S3VAULT_PASSWORD": "old password", "S3VAULT_NEW_PASSWORD": "new one"}
    done = run_cli("-r", local_repo.url, "key", "passwd", "--kdf-cost", "minimum", env=env)
    assert done.code == 0, done.stderr
    listed = json.loads(run_cli("-r", local_repo.url, "--json", "key", "list").stdout)
    assert [k["pinned"] for k in listed] == [True, True]
