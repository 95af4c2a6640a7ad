"""Sealing to the repository's public key with the writer's psk (design.md §6a)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto import aead, putseal
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError

REPO = b"r" * 32
MASTER = MasterKey(b"m" * 32, REPO, 1, b"i" * 32)
KEY_ID = b"k" * 32


def _psk_of(key_id: bytes) -> bytes:
    return putseal.psk(MASTER.writer_secret(key_id), REPO)


def test_the_full_key_derives_the_writers_key_and_id() -> None:
    psk = _psk_of(KEY_ID)
    sender, key = putseal.sending_key(MASTER.put_public, KEY_ID, psk, REPO)
    assert putseal.receiving_key(MASTER.put_private, sender, REPO, _psk_of) == (KEY_ID, key)
    again = putseal.Sender.decode(sender.encode())
    assert putseal.receiving_key(MASTER.put_private, again, REPO, _psk_of) == (KEY_ID, key)


def test_every_sending_key_is_fresh_and_hides_the_writer() -> None:
    psk = _psk_of(KEY_ID)
    (s1, k1), (s2, k2) = (putseal.sending_key(MASTER.put_public, KEY_ID, psk, REPO) for _ in "ab")
    assert k1 != k2
    assert s1.epk != s2.epk
    assert s1.writer != s2.writer
    assert KEY_ID not in s1.encode()


@given(st.binary(min_size=32, max_size=32))
def test_another_psk_or_private_key_gives_another_key(other: bytes) -> None:
    psk = _psk_of(KEY_ID)
    sender, key = putseal.sending_key(MASTER.put_public, KEY_ID, psk, REPO)
    _, forged = putseal.receiving_key(MASTER.put_private, sender, REPO, lambda _: other)
    assert forged != key
    try:
        _, wrong = putseal.receiving_key(other, sender, REPO, _psk_of)
    except IntegrityError:
        return
    assert wrong != key


@given(st.integers(0, putseal.SENDER_SIZE * 8 - 1))
def test_a_flipped_sender_bit_changes_the_key(bit: int) -> None:
    psk = _psk_of(KEY_ID)
    sender, key = putseal.sending_key(MASTER.put_public, KEY_ID, psk, REPO)
    raw = bytearray(sender.encode())
    raw[bit // 8] ^= 1 << (bit % 8)
    try:
        _, got = putseal.receiving_key(
            MASTER.put_private, putseal.Sender.decode(bytes(raw)), REPO, _psk_of
        )
    except IntegrityError:
        return
    assert got != key


def test_the_repository_id_is_bound() -> None:
    psk = _psk_of(KEY_ID)
    sender, key = putseal.sending_key(MASTER.put_public, KEY_ID, psk, REPO)
    _, other = putseal.receiving_key(MASTER.put_private, sender, b"s" * 32, _psk_of)
    assert other != key


def test_bad_public_keys_and_senders_are_refused() -> None:
    with pytest.raises(IntegrityError):
        putseal.sending_key(b"\x00" * 32, KEY_ID, b"p" * 32, REPO)  # a low-order point
    with pytest.raises(IntegrityError):
        putseal.Sender.decode(b"x" * 63)
    with pytest.raises(ValueError, match="key id"):
        putseal.sending_key(MASTER.put_public, b"short", b"p" * 32, REPO)


def test_derived_keys_are_separate_and_follow_the_epoch() -> None:
    other_epoch = MasterKey(os.urandom(32), REPO, 2, b"i" * 32)
    assert other_epoch.put_public != MASTER.put_public
    assert other_epoch.view_key != MASTER.view_key
    # From the identity: rotation keeps the signing key and the writer secrets.
    assert other_epoch.signing_public == MASTER.signing_public
    assert other_epoch.writer_secret(KEY_ID) == MASTER.writer_secret(KEY_ID)
    assert MASTER.writer_secret(KEY_ID) != MASTER.writer_secret(b"j" * 32)
    derived = {
        MASTER.put_private,
        MASTER.put_public,
        MASTER.view_key,
        MASTER.signing_public,
        MASTER.writer_secret(KEY_ID),
        MASTER.encryption_key,
        MASTER.id_key,
    }
    assert len(derived) == 7
    signature = MASTER.signing_key.sign(b"x")
    assert len(signature) == 64


def test_public_material_alone_opens_nothing() -> None:
    """Everything a put-only holder has, tried as a key on what another writer sealed."""
    sender, key = putseal.sending_key(MASTER.put_public, KEY_ID, _psk_of(KEY_ID), REPO)
    nonce = aead.new_nonce()
    ct = aead.seal(key, nonce, b"secret", b"")
    other = b"o" * 32
    held = [
        MASTER.put_public,
        MASTER.view_key,
        MASTER.id_key,
        MASTER.signing_public,
        MASTER.writer_secret(other),
        _psk_of(other),
    ]
    for material in held:
        with pytest.raises(IntegrityError):
            aead.open_(material, nonce, ct, b"")
        _, derived = putseal.receiving_key(material, sender, REPO, _constant(material))
        with pytest.raises(IntegrityError):
            aead.open_(derived, nonce, ct, b"")


def _constant(value: bytes) -> Callable[[bytes], bytes]:
    """A psk lookup that gives ``value`` for every writer."""
    return lambda _: value


def test_writer_subkeys_are_separate() -> None:
    secret = MASTER.writer_secret(KEY_ID)
    subkeys = {p: putseal.writer_subkey(secret, REPO, p) for p in putseal.WRITER_PURPOSES}
    assert len(set(subkeys.values())) == len(putseal.WRITER_PURPOSES)
    assert subkeys["psk"] == putseal.psk(secret, REPO)
    assert putseal.writer_subkey(secret, b"s" * 32, "psk") != subkeys["psk"]
    with pytest.raises(ValueError, match="no writer subkey"):
        putseal.writer_subkey(secret, REPO, "enc")
