"""A put-only host's incremental state, sealed (design.md §6a): readable by that host (its
writer secret's ``state`` subkey) and by every full key (which derives any writer's secret),
by nobody else. What the state holds (the last snapshot's trees) is the archiver's to say;
this module only seals and opens it.

    state = envelope (version 1, kind host state, epoch 0) under the ``state`` subkey,
            associated data = header ‖ repository id ‖ key id of the writer
"""

from __future__ import annotations

from s3vault import compression
from s3vault.crypto import aead, putseal
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.envelope import HEADER_SIZE, EnvelopeHeader, SealedKind

STATE_EPOCH = 0  # not sealed under a master key: the writer secret does not rotate


def _key(writer_secret: bytes, repo_id: bytes) -> bytes:
    return putseal.writer_subkey(writer_secret, repo_id, "state")


def seal_state(writer_secret: bytes, repo_id: bytes, key_id: bytes, plaintext: bytes) -> bytes:
    """The host's state, compressed and sealed for it (and for full keys)."""
    nonce = aead.new_nonce()
    header = EnvelopeHeader(kind=SealedKind.HOST_STATE, epoch=STATE_EPOCH, nonce=nonce).encode()
    body = compression.compress(plaintext, 3)
    key = _key(writer_secret, repo_id)
    return header + aead.seal(key, nonce, body, header + repo_id + key_id)


def open_state(writer_secret: bytes, repo_id: bytes, key_id: bytes, sealed: bytes) -> bytes:
    """The state a writer sealed, opened with its writer secret (the host's own, or one a full
    key derived with ``open_state_full``).

    Raises:
        IntegrityError: not a host state of this writer and repository, or damaged.
    """
    header = EnvelopeHeader.decode(sealed)
    if header.kind is not SealedKind.HOST_STATE or header.version != 1:
        msg = f"expected a host state, found a {header.kind.name} object"
        raise IntegrityError(msg)
    aad = sealed[:HEADER_SIZE] + repo_id + key_id
    plain = aead.open_(_key(writer_secret, repo_id), header.nonce, sealed[HEADER_SIZE:], aad)
    return compression.decompress(plain)


def open_state_full(key: MasterKey, key_id: bytes, sealed: bytes) -> bytes:
    """A full key opens the state of put-only key ``key_id``.

    Raises:
        IntegrityError: as open_state.
    """
    return open_state(key.writer_secret(key_id), key.repo_id, key_id, sealed)
