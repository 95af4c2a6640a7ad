"""A put-only host's state (design.md §6a): that host and every full key open it; another
put-only host, the public keys and the view key do not."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.repository import hoststate

REPO = os.urandom(32)
FULL = MasterKey(os.urandom(32), REPO, 1, os.urandom(32))
HOST, OTHER = b"h" * 32, b"o" * 32


@given(st.binary(max_size=5000))
def test_the_host_and_the_full_key_open_its_state(plain: bytes) -> None:
    sealed = hoststate.seal_state(FULL.writer_secret(HOST), REPO, HOST, plain)
    assert hoststate.open_state(FULL.writer_secret(HOST), REPO, HOST, sealed) == plain
    assert hoststate.open_state_full(FULL, HOST, sealed) == plain


def test_nobody_else_opens_it() -> None:
    sealed = hoststate.seal_state(FULL.writer_secret(HOST), REPO, HOST, b"trees")
    with pytest.raises(IntegrityError):  # another host's writer secret
        hoststate.open_state(FULL.writer_secret(OTHER), REPO, OTHER, sealed)
    with pytest.raises(IntegrityError):  # the right secret, claimed for another key
        hoststate.open_state(FULL.writer_secret(HOST), REPO, OTHER, sealed)
    for material in (FULL.put_public, FULL.view_key, FULL.id_key, FULL.signing_public):
        with pytest.raises(IntegrityError):
            hoststate.open_state(material, REPO, HOST, sealed)
    rotated = MasterKey(os.urandom(32), REPO, 2, FULL.identity)  # the state survives rotation
    assert hoststate.open_state_full(rotated, HOST, sealed) == b"trees"


@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(hoststate.seal_state(FULL.writer_secret(HOST), REPO, HOST, b"state"))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, FormatVersionError)):
        hoststate.open_state_full(FULL, HOST, bytes(sealed))
