"""The config's view (design.md §6a): signed by the repository, opened by a put-only host with
its payload's view keys and its pinned Σ; nothing else makes or opens one."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto import aead
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.configfile import ConfigFile, KeyEpoch
from s3vault.ids import ObjectId
from s3vault.repository import configview

REPO = ObjectId(os.urandom(32))
IDENTITY = os.urandom(32)
KEY = MasterKey(os.urandom(32), REPO, 3, IDENTITY)
CONFIG = ConfigFile(
    repo_id=REPO,
    current_epoch=3,
    epochs=(KeyEpoch(epoch=3, check=KEY.check_value, started=5.0),),
    object_lock={"mode": "GOVERNANCE", "period": 86400, "margin": 3600},
)
VIEW = configview.seal_view(CONFIG, KEY)


def _open(view: bytes, *, signing: bytes = KEY.signing_public, repo: bytes = REPO) -> ConfigFile:
    return configview.open_view(
        view, repo_id=repo, view_keys={3: KEY.view_key}, signing_public=signing
    )


def test_a_put_only_host_reads_the_settings() -> None:
    assert _open(VIEW) == CONFIG


def test_it_is_not_the_config_a_full_key_opens() -> None:
    sealed = VIEW[: -configview.SIG_SIZE]
    aad = sealed[:32] + REPO
    with pytest.raises(IntegrityError):
        aead.open_(KEY.encryption_key, sealed[8:32], sealed[32:], aad)


@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    bit = data.draw(st.integers(0, len(VIEW) * 8 - 1))
    damaged = bytearray(VIEW)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, FormatVersionError)):
        _open(bytes(damaged))


def test_a_view_made_without_the_signing_key_is_refused() -> None:
    """V_e is shared by every put-only key: one of them sealing a view of its own making (here
    under another identity's signing key) must not pass."""
    forger = MasterKey(KEY.secret, REPO, 3, os.urandom(32))  # same V_e, another σ
    assert forger.view_key == KEY.view_key
    forged = configview.seal_view(CONFIG, forger)
    with pytest.raises(IntegrityError, match="not signed by this repository"):
        _open(forged)


def test_another_repository_or_epoch_is_refused() -> None:
    with pytest.raises(IntegrityError, match="not signed"):
        _open(VIEW, repo=os.urandom(32))
    with pytest.raises(IntegrityError, match="epoch 3"):
        configview.open_view(
            VIEW, repo_id=REPO, view_keys={4: KEY.view_key}, signing_public=KEY.signing_public
        )
    with pytest.raises(IntegrityError, match="too short"):
        _open(VIEW[:50])
