"""A put-only host's state (design.md §6a): that host and every full key open it; another
put-only host, the public keys and the view key do not; nobody opens it at another place
(seq or host tag)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault import compression
from s3vault.crypto import aead, putseal
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.repository import hoststate

REPO = os.urandom(32)
FULL = MasterKey(os.urandom(32), REPO, 1, os.urandom(32))
HOST, OTHER = b"h" * 32, b"o" * 32
TAG, SEQ = "0123456789abcdef", 7  # the place: state/<tag>/<seq>-<id>


@given(st.binary(max_size=5000))
def test_the_host_and_the_full_key_open_its_state(plain: bytes) -> None:
    sealed = hoststate.seal_state(
        FULL.writer_secret(HOST), REPO, HOST, plain, host_tag=TAG, seq=SEQ
    )
    assert (
        hoststate.open_state(FULL.writer_secret(HOST), REPO, HOST, sealed, host_tag=TAG, seq=SEQ)
        == plain
    )
    assert hoststate.open_state_full(FULL, HOST, sealed, host_tag=TAG, seq=SEQ) == plain


def test_nobody_else_opens_it() -> None:
    sealed = hoststate.seal_state(
        FULL.writer_secret(HOST), REPO, HOST, b"trees", host_tag=TAG, seq=SEQ
    )
    with pytest.raises(IntegrityError):  # another host's writer secret
        hoststate.open_state(FULL.writer_secret(OTHER), REPO, OTHER, sealed, host_tag=TAG, seq=SEQ)
    with pytest.raises(IntegrityError):  # the right secret, claimed for another key
        hoststate.open_state(FULL.writer_secret(HOST), REPO, OTHER, sealed, host_tag=TAG, seq=SEQ)
    for material in (FULL.put_public, FULL.view_key, FULL.id_key, FULL.signing_public):
        with pytest.raises(IntegrityError):
            hoststate.open_state(material, REPO, HOST, sealed, host_tag=TAG, seq=SEQ)
    rotated = MasterKey(os.urandom(32), REPO, 2, FULL.identity)  # the state survives rotation
    assert hoststate.open_state_full(rotated, HOST, sealed, host_tag=TAG, seq=SEQ) == b"trees"


@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(
        hoststate.seal_state(FULL.writer_secret(HOST), REPO, HOST, b"state", host_tag=TAG, seq=SEQ)
    )
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, FormatVersionError)):
        hoststate.open_state_full(FULL, HOST, bytes(sealed), host_tag=TAG, seq=SEQ)


def test_a_state_renamed_to_another_seq_or_host_tag_does_not_open() -> None:
    """The place is authenticated: a store-level attacker cannot make an old state pass for
    the newest (a higher seq) or for another host's."""
    secret = FULL.writer_secret(HOST)
    sealed = hoststate.seal_state(secret, REPO, HOST, b"state", host_tag=TAG, seq=SEQ)
    for tag, seq in ((TAG, SEQ + 1), (TAG, 9_999_999_999), ("fedcba9876543210", SEQ)):
        with pytest.raises(IntegrityError, match="authentication"):
            hoststate.open_state(secret, REPO, HOST, sealed, host_tag=tag, seq=seq)
    for tag, seq in (("a/b", SEQ), (TAG, 0), ("t\n", SEQ)):
        with pytest.raises(IntegrityError, match="place"):
            hoststate.seal_state(secret, REPO, HOST, b"state", host_tag=tag, seq=seq)


def test_a_state_sealed_before_its_place_was_bound_is_refused_by_name() -> None:
    """A state of an older build (associated data without the place) is not trusted, and
    the message says why rather than "authentication failed"."""
    secret = FULL.writer_secret(HOST)
    nonce = aead.new_nonce()
    header = EnvelopeHeader(kind=SealedKind.HOST_STATE, epoch=0, nonce=nonce).encode()
    key = putseal.writer_subkey(secret, REPO, "state")
    old = header + aead.seal(key, nonce, compression.compress(b"s", 3), header + REPO + HOST)
    with pytest.raises(IntegrityError, match="older s3vault"):
        hoststate.open_state(secret, REPO, HOST, old, host_tag=TAG, seq=SEQ)
