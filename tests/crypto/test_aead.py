"""XAES-256-GCM against the C2SP test vectors, and tamper refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto import aead
from s3vault.errors import IntegrityError

NONCE = b"ABCDEFGHIJKLMNOPQRSTUVWX"


def test_xaes_matches_c2sp_vector_without_aad() -> None:
    ct = aead.seal(b"\x01" * 32, NONCE, b"XAES-256-GCM", b"")
    assert ct.hex() == "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"


def test_xaes_matches_c2sp_vector_with_aad() -> None:
    ct = aead.seal(b"\x03" * 32, NONCE, b"XAES-256-GCM", b"c2sp.org/XAES-256-GCM")
    assert ct.hex() == "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"


@given(st.binary(max_size=2000), st.binary(max_size=50), st.data())
def test_any_flipped_bit_is_refused(plain: bytes, aad: bytes, data: st.DataObject) -> None:
    key, nonce = b"k" * 32, aead.new_nonce()
    ct = aead.seal(key, nonce, plain, aad)
    assert aead.open_(key, nonce, ct, aad) == plain
    pos = data.draw(st.integers(0, len(ct) * 8 - 1))
    bad = bytearray(ct)
    bad[pos // 8] ^= 1 << (pos % 8)
    with pytest.raises(IntegrityError):
        aead.open_(key, nonce, bytes(bad), aad)
    with pytest.raises(IntegrityError):
        aead.open_(key, nonce, ct, aad + b"x")


def test_nonces_do_not_repeat() -> None:
    seen = {aead.new_nonce() for _ in range(100_000)}
    assert len(seen) == 100_000
