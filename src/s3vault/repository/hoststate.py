"""A put-only host's incremental state, sealed (design.md §6a): readable by that host (its
writer secret's ``state`` subkey) and by every full key (which derives any writer's secret),
by nobody else. What the state holds (the last snapshot's trees) is the archiver's to say;
this module only seals and opens it.

    state = envelope (version 1, kind host state, epoch 0) under the ``state`` subkey,
            associated data = header ‖ repository id ‖ key id of the writer ‖
                              place, the ASCII of "<host tag>/<seq>" (seq in decimal)

The place is the state's name in the store (``state/<host tag>/<seq>-<id>``) without its id:
a state stored under another seq or another host's tag does not open, so a store-level
attacker cannot make an old state pass for the newest by renaming it. States sealed before
the place was bound (2026-12-05) open only without it: they are refused, with a message
saying so (the host then reads every file once).
"""

from __future__ import annotations

from s3vault import compression
from s3vault.crypto import aead, putseal
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.envelope import HEADER_SIZE, EnvelopeHeader, SealedKind

STATE_EPOCH = 0  # not sealed under a master key: the writer secret does not rotate


UNBOUND = (
    "a state sealed by an older s3vault, which did not bind its seq: not trusted (its place "
    "in the host's chain cannot be told)"
)


def _key(writer_secret: bytes, repo_id: bytes) -> bytes:
    return putseal.writer_subkey(writer_secret, repo_id, "state")


def place(host_tag: str, seq: int) -> bytes:
    """What a state's associated data binds of its name: ``<host tag>/<seq>``.

    Raises:
        IntegrityError: a host tag that is not printable ASCII without ``/``, or seq < 1.
    """
    if seq < 1 or not host_tag.isascii() or not host_tag.isprintable() or "/" in host_tag:
        msg = f"a host state's place must be a plain host tag and a seq >= 1, not {seq}"
        raise IntegrityError(msg)
    return f"{host_tag}/{seq}".encode("ascii")


def seal_state(
    writer_secret: bytes,
    repo_id: bytes,
    key_id: bytes,
    plaintext: bytes,
    *,
    host_tag: str,
    seq: int,
) -> bytes:
    """The host's state, compressed and sealed for it (and for full keys), bound to its place
    ``state/<host tag>/<seq>-…``.

    Raises:
        IntegrityError: a malformed place (``place``).
    """
    nonce = aead.new_nonce()
    header = EnvelopeHeader(kind=SealedKind.HOST_STATE, epoch=STATE_EPOCH, nonce=nonce).encode()
    body = compression.compress(plaintext, 3)
    key = _key(writer_secret, repo_id)
    return header + aead.seal(key, nonce, body, header + repo_id + key_id + place(host_tag, seq))


def open_state(
    writer_secret: bytes,
    repo_id: bytes,
    key_id: bytes,
    sealed: bytes,
    *,
    host_tag: str,
    seq: int,
) -> bytes:
    """The state a writer sealed for place ``<host tag>/<seq>``, opened with its writer secret
    (the host's own, or one a full key derived with ``open_state_full``).

    Raises:
        IntegrityError: not a host state of this writer, repository and place, or damaged.
    """
    header = EnvelopeHeader.decode(sealed)
    if header.kind is not SealedKind.HOST_STATE or header.version != 1:
        msg = f"expected a host state, found a {header.kind.name} object"
        raise IntegrityError(msg)
    key = _key(writer_secret, repo_id)
    aad = sealed[:HEADER_SIZE] + repo_id + key_id
    body = sealed[HEADER_SIZE:]
    try:
        plain = aead.open_(key, header.nonce, body, aad + place(host_tag, seq))
    except IntegrityError:
        if _opens(key, header.nonce, body, aad):
            raise IntegrityError(UNBOUND) from None
        raise
    return compression.decompress_file(plain, len(sealed))


def _opens(key: bytes, nonce: bytes, body: bytes, aad: bytes) -> bool:
    try:
        aead.open_(key, nonce, body, aad)
    except IntegrityError:
        return False
    return True


def open_state_full(
    key: MasterKey, key_id: bytes, sealed: bytes, *, host_tag: str, seq: int
) -> bytes:
    """A full key opens the state of put-only key ``key_id`` stored at ``<host tag>/<seq>``.

    Raises:
        IntegrityError: as open_state.
    """
    return open_state(
        key.writer_secret(key_id), key.repo_id, key_id, sealed, host_tag=host_tag, seq=seq
    )
