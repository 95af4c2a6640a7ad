"""XAES-256-GCM against the C2SP test vectors, and tamper refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
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


@settings(max_examples=200)
@given(key=st.binary(min_size=32, max_size=32), prefix=st.binary(min_size=12, max_size=12))
def test_the_subkey_is_sp800_108_counter_mode_over_aes_cmac(key: bytes, prefix: bytes) -> None:
    """aead derives XAES's subkey from two AES blocks and a precomputed CMAC subkey; the same
    KDF as cryptography's KBKDFCMAC computes it from the specification's parameters."""
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode

    reference = KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=32,
        rlen=2,
        llen=None,
        location=CounterLocation.BeforeFixed,
        label=None,
        context=None,
        fixed=b"X\x00" + prefix,
    ).derive(key)
    assert aead._subkey(key, prefix) == reference
    assert aead._subkey(key, prefix) == reference  # the kept deriver, used again


def test_each_thread_and_a_forked_child_derive_the_same_subkeys() -> None:
    import os
    import threading

    key, prefixes = os.urandom(32), [os.urandom(12) for _ in range(50)]
    expected = [aead._subkey(key, p) for p in prefixes]
    got: list[list[bytes]] = []
    threads = [
        threading.Thread(target=lambda: got.append([aead._subkey(key, p) for p in prefixes]))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [expected] * 4
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child uses the parent's kept deriver
        os.write(write, b"".join(aead._subkey(key, p) for p in prefixes))
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.waitpid(pid, 0)
    assert data == b"".join(expected)


def test_a_key_or_nonce_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError):
        aead.seal(b"k" * 16, NONCE, b"data", b"")  # AES-128's size: XAES takes 256-bit keys
    with pytest.raises(ValueError):
        aead.seal(b"k" * 32, NONCE[:12], b"data", b"")
    with pytest.raises(IntegrityError):
        aead.open_(b"k" * 32, NONCE[:12], b"x" * 40, b"")
