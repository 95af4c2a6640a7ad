"""Opening a repository with a put-only key (design.md §6a): the settings come from the
config's view, which a full key writes once the repository is at format version 2 and keeps
current through rotations; a forged or stripped view is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import InitOptions, add_put_only_key, init, open_repository
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, KeyError_, NoKeyError, UsageError
from s3vault.format.configfile import ConfigMarker
from s3vault.format.envelope import SealedKind
from s3vault.ops.keys import rotate_master
from s3vault.repository import configview, putkeys
from s3vault.repository.putrepo import PutOnlyRepository
from tests.conftest import TEST_SETTINGS, RepoHandle
from tests.putonly import open_local_put_only

HOST_PW = b"web-01 secret"


def _put_only_open(handle: RepoHandle, password: bytes = HOST_PW) -> PutOnlyRepository:
    return open_local_put_only(handle.url, password)


@pytest.fixture
def switched(tmp_path: Path) -> RepoHandle:
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    add_put_only_key(handle.open(), HOST_PW, host="web-01", kdf_cost="minimum", switch=True)
    return handle


def test_a_put_only_host_opens_with_the_settings_and_seals_what_a_full_key_opens(
    switched: RepoHandle,
) -> None:
    full = switched.open()
    assert full.config.version == 2
    put = _put_only_open(switched)
    assert put.config == full.config and put.host == "web-01"
    assert "secret" not in repr(put)
    sealed = put.sealer().seal_file(SealedKind.SNAPSHOT, b"{}")
    assert full.sealer.open_file(SealedKind.SNAPSHOT, sealed) == b"{}"
    with pytest.raises(NoKeyError, match="opens no put-only key file"):
        _put_only_open(switched, b"not it")


def test_a_rotation_renews_the_view_and_the_host_seals_under_the_new_epoch(
    switched: RepoHandle,
) -> None:
    rotate_master(switched.open())
    put = _put_only_open(switched)
    assert put.config.current_epoch == 2 and put.sealer().epoch == 2
    sealed = put.sealer().seal_file(SealedKind.SNAPSHOT, b"{}")
    assert switched.open().sealer.open_file(SealedKind.SNAPSHOT, sealed) == b"{}"


def test_a_view_not_signed_by_the_repository_is_refused(switched: RepoHandle) -> None:
    config_path = Path(switched.url) / "config"
    marker = ConfigMarker.decode(config_path.read_bytes())
    full = switched.open()
    # someone with a put-only key (V_e) but not σ: a view sealed right, signed by another key
    other = MasterKey(full.sealer.current.secret, full.id, full.config.current_epoch, b"x" * 32)
    forged = configview.seal_view(replace(full.config, pack_size=1 << 10), other)
    config_path.write_bytes(replace(marker, view=forged).encode())
    with pytest.raises(IntegrityError, match="not signed by this repository"):
        _put_only_open(switched)


def test_a_stripped_view_or_downgraded_marker_is_refused_by_every_key(
    switched: RepoHandle,
) -> None:
    config_path = Path(switched.url) / "config"
    stored = json.loads(config_path.read_text())
    del stored["view"]
    stored["v"] = 1
    config_path.write_bytes(json.dumps(stored, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(KeyError_, match="--switch-format"):
        _put_only_open(switched)
    with pytest.raises(IntegrityError, match="format version does not match"):
        open_repository(switched.options, load_index=False)


def test_a_version_1_repository_refuses_put_only_keys_until_switched(
    local_repo: RepoHandle,
) -> None:
    repo = local_repo.open()
    with pytest.raises(UsageError, match="--switch-format"):
        add_put_only_key(repo, HOST_PW, host="web-01", kdf_cost="minimum")
    # a put-only key file written into a version 1 repository (an older build, by hand)
    keyfile = putkeys.wrap_put_only_key(
        repo_id=repo.id,
        payload=repo.sealer.payload(),
        password=HOST_PW,
        host="web-01",
        kdf_cost="minimum",
    )
    repo.store_key_file(keyfile, lambda k: putkeys.unwrap_put_only(k, HOST_PW))
    with pytest.raises(KeyError_, match="format version 1"):
        _put_only_open(local_repo)
