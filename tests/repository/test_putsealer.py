"""A put-only writer seals to the repository's public key; a full key opens it; nothing the
writer holds opens it (design.md §6a)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto import aead, putseal
from s3vault.crypto.hashing import blob_id
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.envelope import PUT_HEADER_SIZE, EnvelopeHeader, SealedKind, blob_aad
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.sealer import PACK_HEADER_BINDING, PutSealer, Sealer

REPO = os.urandom(32)
IDENTITY = os.urandom(32)
KEYS = {e: MasterKey(os.urandom(32), REPO, e, IDENTITY) for e in (1, 2)}
FULL = Sealer(KEYS, 2)


def writer(key_id: bytes, epoch: int = 2) -> PutSealer:
    """What a put-only key file's payload gives its host."""
    key = KEYS[epoch]
    return PutSealer(
        repo_id=REPO,
        epoch=epoch,
        public=key.put_public,
        key_id=key_id,
        writer_secret=key.writer_secret(key_id),
        id_key=key.id_key,
    )


HOST = writer(b"h" * 32)


@given(st.binary(max_size=3000), st.sampled_from([SealedKind.SNAPSHOT, SealedKind.INDEX]))
def test_the_full_key_opens_a_put_only_file(plain: bytes, kind: SealedKind) -> None:
    sealed = HOST.seal_file(kind, plain)
    header = EnvelopeHeader.decode(sealed)
    assert (header.version, header.epoch, header.kind) == (2, 2, kind)
    assert FULL.open_file(kind, sealed) == plain
    with pytest.raises(IntegrityError, match="expected"):
        FULL.open_file(SealedKind.AUDIT, sealed)


@given(st.data())
def test_any_flipped_bit_of_a_put_only_file_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(HOST.seal_file(SealedKind.SNAPSHOT, b'{"tree": "x"}'))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, FormatVersionError)):  # a flipped version byte
        FULL.open_file(SealedKind.SNAPSHOT, bytes(sealed))


def test_old_epochs_open_and_the_writer_is_recovered() -> None:
    sealed = writer(b"o" * 32, epoch=1).seal_file(SealedKind.SNAPSHOT, b"old")
    assert FULL.open_file(SealedKind.SNAPSHOT, sealed) == b"old"
    header = EnvelopeHeader.decode(sealed)
    assert FULL.put_key(1, header.sender)[0] == b"o" * 32
    only_two = Sealer({2: KEYS[2]}, 2)
    with pytest.raises(IntegrityError, match="epoch 1"):
        only_two.open_file(SealedKind.SNAPSHOT, sealed)


def test_put_only_writers_cannot_write_every_kind() -> None:
    with pytest.raises(ValueError, match="CONFIG"):
        HOST.seal(SealedKind.CONFIG, b"x")
    # Forged by hand (a config sealed to the public key): a full key refuses it.
    forged = _seal_any_kind(SealedKind.CONFIG, b"\x00{}")
    with pytest.raises(IntegrityError, match="forged"):
        FULL.open_file(SealedKind.CONFIG, forged)


def _seal_any_kind(kind: SealedKind, plain: bytes) -> bytes:
    sealed = bytearray(HOST.seal(SealedKind.SNAPSHOT, plain))
    sealed[4] = kind  # the kind byte; the tag no longer matches either way
    return bytes(sealed)


def test_a_writer_without_the_psk_is_not_accepted() -> None:
    """The public key is not secret: sealing to it without a writer's psk (here: the psk of
    a made-up secret for a real key id) does not make an object a full key accepts."""
    forger = PutSealer(
        repo_id=REPO,
        epoch=2,
        public=KEYS[2].put_public,
        key_id=b"h" * 32,
        writer_secret=os.urandom(32),
        id_key=KEYS[2].id_key,
    )
    with pytest.raises(IntegrityError, match="authentication"):
        FULL.open_file(SealedKind.SNAPSHOT, forger.seal_file(SealedKind.SNAPSHOT, b"fake"))


def _pack(
    sealer: PutSealer, blobs: list[bytes]
) -> tuple[bytes, list[tuple[ObjectId, int, int]], bytes]:
    pack = sealer.pack()
    out, where = b"", []
    for data in blobs:
        bid = blob_id(sealer.id_key, data)
        sealed = pack.seal_blob(BlobType.DATA, bid, data, 3)
        where.append((bid, len(out), len(sealed)))
        out += sealed
    return out + pack.seal_header(b"header"), where, pack.sender


@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=5))
def test_the_full_key_opens_a_put_only_pack(blobs: list[bytes]) -> None:
    packed, where, sender = _pack(HOST, blobs)
    for data, (bid, offset, length) in zip(blobs, where, strict=True):
        piece = packed[offset : offset + length]
        assert FULL.open_blob(BlobType.DATA, bid, piece, len(data), 2, sender) == data
        with pytest.raises(IntegrityError):
            FULL.open_blob(BlobType.TREE, bid, piece, len(data), 2, sender)
        with pytest.raises(IntegrityError):  # as if sealed under K_enc
            FULL.open_blob(BlobType.DATA, bid, piece, len(data), 2)
    end = where[-1][1] + where[-1][2]
    header = packed[end:]
    assert EnvelopeHeader.decode(header).sender == sender
    assert FULL.open(SealedKind.PACK_HEADER, header, PACK_HEADER_BINDING) == b"header"


def test_a_blob_moved_to_another_id_or_pack_is_refused() -> None:
    packed, where, sender = _pack(HOST, [b"one", b"two"])
    (id1, off1, len1), (id2, _, _) = where
    piece = packed[off1 : off1 + len1]
    with pytest.raises(IntegrityError):
        FULL.open_blob(BlobType.DATA, id2, piece, 3, 2, sender)
    _, _, other_sender = _pack(HOST, [b"three"])
    with pytest.raises(IntegrityError):
        FULL.open_blob(BlobType.DATA, id1, piece, 3, 2, other_sender)


def test_nothing_a_put_only_host_holds_opens_what_it_or_another_wrote() -> None:
    """Every key a put-only host holds (its payload: the public key, the view key, K_id, its
    writer secret and psk, Σ), used directly and as the private key and psk of the key
    derivation, on every sealed part it or another host wrote, with the right associated
    data: none opens. The full key's derivation opens each (so the parts are well formed)."""
    other = writer(b"x" * 32)
    key = KEYS[2]
    parts = []  # (sender, nonce, ciphertext, associated data)
    for sealer in (HOST, other):
        sealed = sealer.seal_file(SealedKind.SNAPSHOT, b"snapshot")
        header = EnvelopeHeader.decode(sealed)
        aad = sealed[:PUT_HEADER_SIZE] + REPO
        parts.append((header.sender, header.nonce, sealed[PUT_HEADER_SIZE:], aad))
        packed, ((bid, offset, length),), sender = _pack(sealer, [b"file content"])
        piece = packed[offset : offset + length]
        aad = blob_aad(SealedKind.DATA_BLOB, 2, 2) + REPO + bid
        parts.append((sender, piece[:24], piece[24:], aad))
    held = [
        key.put_public,
        key.view_key,
        key.id_key,
        key.signing_public,
        key.writer_secret(b"h" * 32),
        putseal.psk(key.writer_secret(b"h" * 32), REPO),
    ]
    for sender, nonce, ct, aad in parts:
        _, right = FULL.put_key(2, sender)
        assert aead.open_(right, nonce, ct, aad)
        decoded = putseal.Sender.decode(sender)
        for material in held:
            candidates = [material]
            for psk in held:
                candidates.append(putseal.receiving_key(material, decoded, REPO, _constant(psk))[1])
            for candidate in candidates:
                with pytest.raises(IntegrityError):
                    aead.open_(candidate, nonce, ct, aad)


def _constant(value: bytes) -> Callable[[bytes], bytes]:
    """A psk lookup that gives ``value`` for every writer."""
    return lambda _: value
