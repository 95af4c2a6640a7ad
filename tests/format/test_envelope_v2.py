"""Envelope version 2: the header of what put-only writers seal (design.md §3, §6a)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.envelope import (
    PUT_HEADER_SIZE,
    TAG_SIZE,
    EnvelopeHeader,
    SealedKind,
    blob_aad,
)

nonces = st.binary(min_size=24, max_size=24)
senders = st.binary(min_size=64, max_size=64)


@given(st.sampled_from(SealedKind), st.integers(0, 65535), nonces, senders)
def test_version_2_header_round_trips(
    kind: SealedKind, epoch: int, nonce: bytes, sender: bytes
) -> None:
    header = EnvelopeHeader.put(kind, epoch, nonce, sender)
    raw = header.encode()
    assert len(raw) == header.size == PUT_HEADER_SIZE
    assert (
        raw[:32] == EnvelopeHeader(kind=kind, epoch=epoch, nonce=nonce, version=2, alg=2).encode()
    )
    assert EnvelopeHeader.decode(raw + b"t" * TAG_SIZE) == header


@given(nonces, senders)
def test_a_truncated_version_2_object_is_refused(nonce: bytes, sender: bytes) -> None:
    raw = EnvelopeHeader.put(SealedKind.SNAPSHOT, 1, nonce, sender).encode()
    with pytest.raises(IntegrityError, match="too short"):
        EnvelopeHeader.decode(raw + b"t" * (TAG_SIZE - 1))


@pytest.mark.parametrize(("version", "alg"), [(1, 2), (2, 1), (3, 2), (3, 3)])
def test_mixed_or_newer_versions_are_refused(version: int, alg: int) -> None:
    raw = EnvelopeHeader(
        kind=SealedKind.INDEX, epoch=1, nonce=b"n" * 24, version=version, alg=alg
    ).encode()
    with pytest.raises(FormatVersionError, match="unsupported envelope version"):
        EnvelopeHeader.decode(raw + b"s" * 64 + b"t" * 16)


def test_a_sender_has_64_bytes() -> None:
    with pytest.raises(ValueError, match="64"):
        EnvelopeHeader.put(SealedKind.SNAPSHOT, 1, b"n" * 24, b"s" * 63)


def test_blob_aad_names_the_envelope_version() -> None:
    v1, v2 = blob_aad(SealedKind.DATA_BLOB, 7), blob_aad(SealedKind.DATA_BLOB, 7, 2)
    assert len(v1) == len(v2) == 8
    assert v1 != v2
    assert v2 == EnvelopeHeader.put(SealedKind.DATA_BLOB, 7, b"n" * 24, b"s" * 64).encode()[:8]
