"""Which key file a secret is tried on first (repository/keyorder.py). Every key file tried
costs a key derivation; key file names are random, so before this a repository opened with
a password derived the recovery key's KDF first in half of all repositories, and a fleet's
put-only host keys each cost one. Here the real Argon2id runs; the calls are counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault import (
    InitOptions,
    RepoOptions,
    add_key,
    add_put_only_key,
    decode_recovery_key,
    init,
    list_keys,
    open_repository,
    remove_key,
)
from s3vault.backend.local import LocalBackend
from s3vault.crypto import kdf
from s3vault.errors import KeyError_, WrongPasswordError
from s3vault.repository.putrepo import open_put_only
from s3vault.repository.repository import Repository
from tests.conftest import PASSWORD, TEST_SETTINGS

OTHERS = (b"second admin", b"third admin")
HOSTS = {f"web-{n:02d}": f"web-{n:02d} secret".encode() for n in range(1, 5)}


class Fleet:
    """A repository with three password keys, a recovery key and four put-only host keys."""

    def __init__(self, root: Path) -> None:
        self.url = str(root / "repo")
        self.root = root
        created = init(
            RepoOptions(url=self.url, password=PASSWORD.encode()),
            InitOptions(settings=TEST_SETTINGS, recovery_key=True),
        )
        assert created.recovery_key is not None
        self.recovery = decode_recovery_key(created.recovery_key)
        repo = self.open(PASSWORD.encode(), root / "setup-cache")
        self.ids = {b"": ""}
        for password in OTHERS:
            self.ids[password] = add_key(repo, password, kdf_cost="minimum").id
        for n, (host, password) in enumerate(HOSTS.items()):
            add_put_only_key(repo, password, host=host, kdf_cost="minimum", switch=n == 0)
        self.keys = len(list_keys(repo))
        self.caches = 0

    def cache(self) -> Path:
        """A new host's cache directory."""
        self.caches += 1
        return self.root / f"cache-{self.caches}"

    def open(self, password: bytes, cache: Path | None, **options: str) -> Repository:
        return open_repository(
            RepoOptions(url=self.url, password=password, cache_dir=cache, **options),
            load_index=False,
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return Fleet(tmp_path_factory.mktemp("keyorder"))


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[kdf.KdfParams]:
    """Every key derivation of the test, in order (the real one runs)."""
    seen: list[kdf.KdfParams] = []
    real = kdf.derive_kek

    def counting(password: bytes, params: kdf.KdfParams) -> bytes:
        seen.append(params)
        return real(password, params)

    monkeypatch.setattr(kdf, "derive_kek", counting)
    return seen


def test_a_password_is_tried_on_password_keys_only_and_then_remembered(
    fleet: Fleet, derivations: list[kdf.KdfParams]
) -> None:
    for password in (PASSWORD.encode(), *OTHERS):
        cache = fleet.cache()
        derivations.clear()
        fleet.open(password, cache)
        # a new host: at most the three password keys, never the recovery or a put-only key
        assert 1 <= len(derivations) <= 3, (password, len(derivations))
        derivations.clear()
        repo = fleet.open(password, cache)
        assert len(derivations) == 1  # the key that opened it last on this host
        if password in fleet.ids:
            assert repo.key_id.hex() == fleet.ids[password]


def test_a_key_hint_costs_one_derivation(fleet: Fleet, derivations: list[kdf.KdfParams]) -> None:
    for password in OTHERS:
        repo = fleet.open(password, fleet.cache(), key_hint=fleet.ids[password][:8])
        assert repo.key_id.hex() == fleet.ids[password]
    assert len(derivations) == len(OTHERS)
    # a hint that names another key (or none) costs time, not the command
    derivations.clear()
    fleet.open(OTHERS[0], fleet.cache(), key_hint=fleet.ids[OTHERS[1]][:8])
    fleet.open(OTHERS[0], fleet.cache(), key_hint="ffffffff")
    assert 2 <= len(derivations) <= 2 * 4


def test_a_recovery_secret_is_tried_on_the_recovery_key_first(
    fleet: Fleet, derivations: list[kdf.KdfParams]
) -> None:
    fleet.open(fleet.recovery, fleet.cache(), key_kind="recovery")
    assert len(derivations) == 1


def test_a_wrong_password_is_still_tried_on_every_key_file(
    fleet: Fleet, derivations: list[kdf.KdfParams]
) -> None:
    cache = fleet.cache()
    fleet.open(PASSWORD.encode(), cache)
    derivations.clear()
    with pytest.raises(WrongPasswordError, match=f"none of the {fleet.keys} key file"):
        fleet.open(b"not the password", cache)
    assert len(derivations) == fleet.keys  # the remembered one, then all the others, once


def test_a_remembered_key_that_is_garbage_or_removed_costs_nothing_but_time(
    tmp_path: Path, derivations: list[kdf.KdfParams]
) -> None:
    fleet = Fleet(tmp_path)
    cache = fleet.cache()
    repo = fleet.open(OTHERS[0], cache)
    remembered = cache / repo.id.hex() / "key"
    assert remembered.read_text().strip() == fleet.ids[OTHERS[0]]
    remembered.write_bytes(b"\xff not a key id \x00" * 9)
    assert fleet.open(OTHERS[0], cache).key_id.hex() == fleet.ids[OTHERS[0]]
    assert remembered.read_text().strip() == fleet.ids[OTHERS[0]]  # written again
    admin = fleet.open(PASSWORD.encode(), fleet.cache())
    remove_key(admin, fleet.ids[OTHERS[0]])
    with pytest.raises(WrongPasswordError):
        fleet.open(OTHERS[0], cache)
    assert fleet.open(OTHERS[1], cache).key_id.hex() == fleet.ids[OTHERS[1]]
    assert remembered.read_text().strip() == fleet.ids[OTHERS[1]]


def test_a_put_only_host_tries_its_own_key_first_once_it_knows_it(
    fleet: Fleet, derivations: list[kdf.KdfParams]
) -> None:
    backend = LocalBackend(Path(fleet.url))
    marker = Repository.read_marker(backend)
    for host, password in HOSTS.items():
        cache = fleet.cache()
        first = open_put_only(backend, marker, password, cache_dir=cache)
        assert first.keyfile.host == host
        derivations.clear()
        again = open_put_only(backend, marker, password, cache_dir=cache)
        assert again.keyfile.id == first.keyfile.id
        assert len(derivations) == 1
        derivations.clear()
        hinted = open_put_only(backend, marker, password, key_hint=first.keyfile.id.hex()[:6])
        assert hinted.keyfile.id == first.keyfile.id
        assert len(derivations) == 1


def test_a_damaged_remembered_key_file_fails_as_any_damaged_key_file(
    tmp_path: Path, derivations: list[kdf.KdfParams]
) -> None:
    """The remembered key file, damaged in the store: the next open passes over it as it
    would without the memory. Its password gets the same "is damaged" error, naming it; every
    other password still opens its own key."""
    fleet = Fleet(tmp_path)
    cache = fleet.cache()
    fleet.open(OTHERS[0], cache)  # remembered from now on
    damaged = Path(fleet.url) / "keys" / fleet.ids[OTHERS[0]]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x40
    damaged.write_bytes(bytes(data))
    errors = []
    for where in (cache, fleet.cache()):  # with the memory, and a host without it
        with pytest.raises(KeyError_) as caught:
            fleet.open(OTHERS[0], where)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert f"key file {fleet.ids[OTHERS[0]][:8]}" in errors[0]
    assert fleet.open(OTHERS[1], cache).key_id.hex() == fleet.ids[OTHERS[1]]


def test_a_memory_cut_short_by_a_kill_or_beside_odd_names_costs_nothing(
    tmp_path: Path, derivations: list[kdf.KdfParams]
) -> None:
    """A kill can leave the remembered id empty (written, not yet on disk) or a temporary
    file beside it; the store can hold a key "file" whose name is no id and whose bytes are
    not a key file. None of it stops an open, and the memory is written again."""
    fleet = Fleet(tmp_path)
    cache = fleet.cache()
    repo = fleet.open(OTHERS[1], cache)
    remembered = cache / repo.id.hex() / "key"
    remembered.write_bytes(b"")
    (remembered.parent / ".key-1f2e3d4c").write_bytes(fleet.ids[OTHERS[0]].encode()[:20])
    odd = Path(fleet.url) / "keys" / os.fsdecode(b"\xff\xfe not-an-id\n")
    odd.write_bytes(b"\x00garbage")
    assert fleet.open(OTHERS[1], cache).key_id.hex() == fleet.ids[OTHERS[1]]
    assert remembered.read_text().strip() == fleet.ids[OTHERS[1]]
    derivations.clear()
    assert fleet.open(OTHERS[1], cache).key_id.hex() == fleet.ids[OTHERS[1]]
    assert len(derivations) == 1
    # restic's habit: the whole id as the hint, in capitals
    derivations.clear()
    full = fleet.ids[OTHERS[0]].upper()
    assert fleet.open(OTHERS[0], fleet.cache(), key_hint=full).key_id.hex() == full.lower()
    assert len(derivations) == 1
