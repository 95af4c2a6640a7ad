"""Sealing the dedup view of an index file (design.md §6a), in its two sorts:

- *endorsed*, by a full key: ``view ‖ Ed25519 signature under σ`` over
  ``"s3vault-view-v2/endorsed" ‖ repository id ‖ index id ‖ view``, sealed under V_e
  (envelope version 1, kind index view, binding ``endorsed``), stored as ``views/<index id>``.
  Every put-only host opens it and checks the signature with the Σ its key file pins and the
  index id of the name it downloaded: V_e is shared by all of them, the signature is not, and a
  view copied under another index file's name does not verify;
- *claimed*, by put-only key k: the view sealed under HKDF(V_e ‖ psk_k, salt = repository id,
  info ``s3vault/v1/view-claim``), binding ``claimed``: only k (and a full key, which derives
  psk_k) opens it, so no other put-only host deduplicates against k's unproven packs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import suppress
from functools import partial

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3vault import compression
from s3vault.backend.base import Backend
from s3vault.crypto import aead
from s3vault.crypto.hashing import view_digest
from s3vault.crypto.keys import MasterKey
from s3vault.errors import (
    BackendError,
    FormatVersionError,
    IntegrityError,
    ObjectExistsError,
    ObjectNotFoundError,
)
from s3vault.format.dedupview import DedupView, check_version, view_of_index
from s3vault.format.envelope import HEADER_SIZE, EnvelopeHeader, SealedKind
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId

SIG_SIZE = 64
DOMAIN = b"s3vault-view-v2/endorsed"
ENDORSED = b"endorsed"
CLAIMED = b"claimed"


def claim_key(view_key: bytes, psk: bytes, repo_id: bytes) -> bytes:
    """The key of put-only key k's claimed views: its psk mixed into V_e."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=repo_id, info=b"s3vault/v1/view-claim")
    return hkdf.derive(view_key + psk)


def _seal(key: bytes, epoch: int, repo_id: bytes, binding: bytes, plaintext: bytes) -> bytes:
    nonce = aead.new_nonce()
    header = EnvelopeHeader(kind=SealedKind.INDEX_VIEW, epoch=epoch, nonce=nonce).encode()
    body = compression.compress(plaintext, 3)
    return header + aead.seal(key, nonce, body, header + repo_id + binding)


def _open(keys: dict[int, bytes], repo_id: bytes, binding: bytes, sealed: bytes) -> bytes:
    header = EnvelopeHeader.decode(sealed)
    key = keys.get(header.epoch)
    if header.kind is not SealedKind.INDEX_VIEW or header.version != 1 or key is None:
        msg = f"not a dedup view of key epoch {header.epoch} this key opens"
        raise IntegrityError(msg)
    aad = sealed[:HEADER_SIZE] + repo_id + binding
    plain = aead.open_(key, header.nonce, sealed[HEADER_SIZE:], aad)
    return compression.decompress_file(plain, len(sealed))


def _signed(repo_id: bytes, index_id: ObjectId, body: bytes) -> bytes:
    return DOMAIN + bytes(repo_id) + bytes(index_id) + body


def seal_endorsed(view: DedupView, key: MasterKey, index_id: ObjectId) -> bytes:
    """The endorsed view of index file ``index_id`` (a full key's), signed with σ over the
    index id too, and sealed under V_e."""
    plain = view.encode()
    sig = key.signing_key.sign(_signed(key.repo_id, index_id, plain))
    return _seal(key.view_key, key.epoch, key.repo_id, ENDORSED, plain + sig)


def open_endorsed(
    sealed: bytes,
    *,
    repo_id: bytes,
    view_keys: dict[int, bytes],
    signing_public: bytes,
    index_id: ObjectId,
) -> DedupView:
    """An endorsed view, for a put-only host (its payload's V_e, its pinned Σ); ``index_id``:
    the index file the name it was stored under (``views/<index id>``) says it describes.

    Raises:
        IntegrityError: not an endorsed view of this repository for these keys, damaged, not
            signed with σ, or signed for another index file.
        FormatVersionError: a view of version 1 (it lists blob ids: ignored, never trusted,
            format/dedupview.py ``OLD_VIEW``) or a newer one.
    """
    plain = _open(view_keys, repo_id, ENDORSED, sealed)
    body, sig = plain[:-SIG_SIZE], plain[-SIG_SIZE:]
    check_version(body)  # an old view is named as such (not "not signed"), and never used
    try:
        Ed25519PublicKey.from_public_bytes(signing_public).verify(
            sig, _signed(repo_id, index_id, body)
        )
    except (InvalidSignature, ValueError):
        msg = (
            f"the dedup view of index file {index_id.short} is not signed by this repository "
            "for that index file (copied from another, or written by a put-only key?)"
        )
        raise IntegrityError(msg) from None
    return DedupView.decode(body)


def seal_claimed(
    view: DedupView, *, view_key: bytes, epoch: int, psk: bytes, repo_id: bytes
) -> bytes:
    """A put-only host's own view of the packs it wrote."""
    key = claim_key(view_key, psk, repo_id)
    return _seal(key, epoch, repo_id, CLAIMED, view.encode())


def open_claimed(
    sealed: bytes, *, view_keys: dict[int, bytes], psk: bytes, repo_id: bytes
) -> DedupView:
    """A claimed view, opened by its writer (or a full key with the writer's psk).

    Raises:
        IntegrityError: another writer's, or damaged.
        FormatVersionError: a newer view.
    """
    keys = {e: claim_key(v, psk, repo_id) for e, v in view_keys.items()}
    return DedupView.decode(_open(keys, repo_id, CLAIMED, sealed))


def endorsed_view(plaintext: bytes, repo_id: bytes, proven: Collection[ObjectId] = ()) -> DedupView:
    """The view ``store_endorsed`` seals for an index file (its ``plaintext``) of repository
    ``repo_id``: its full-key packs and the put-only writers' packs in ``proven``.

    Raises:
        IntegrityError: a malformed index file.
    """
    return view_of_index(plaintext, partial(view_digest, repo_id), proven)


def open_endorsed_by(sealed: bytes, keys: Mapping[int, MasterKey], index_id: ObjectId) -> DedupView:
    """An endorsed view of index file ``index_id``, opened by a full key (its master keys by
    epoch).

    Raises:
        IntegrityError: damaged, or not signed with this repository's σ.
        FormatVersionError: a newer view.
    """
    key = next(iter(keys.values()))
    return open_endorsed(
        sealed,
        repo_id=key.repo_id,
        view_keys={e: k.view_key for e, k in keys.items()},
        signing_public=key.signing_public,
        index_id=index_id,
    )


def store_endorsed(
    backend: Backend,
    key: MasterKey,
    index_id: ObjectId,
    plaintext: bytes,
    *,
    proven: Collection[ObjectId] = (),
) -> str:
    """Store the endorsed view of index file ``index_id`` (its ``plaintext``) as
    ``views/<index id>``, naming its full-key packs and the put-only writers' packs in
    ``proven`` (maintenance/endorse.py); returns the name. A view already there that this
    key's epoch opens, signed for this index file, is kept (a retried put that had landed, or
    the switch); one that is not (version 1, or planted by a put-only host that raced the full
    key to the name) is replaced.

    Raises:
        BackendError: the store refused the view (not a planted view it keeps under Object
            Lock: hosts ignore that one).
        IntegrityError: a malformed index file.
    """
    name = object_name(ObjectKind.VIEWS, index_id)
    sealed = seal_endorsed(endorsed_view(plaintext, key.repo_id, proven), key, index_id)
    try:
        backend.put(name, sealed)
    except ObjectExistsError:
        if _is_endorsed(backend, name, key, index_id):
            return name
        # Replaced where the store lets us; where it does not (Object Lock keeps the planted
        # view), hosts ignore it and store those blobs again: never fail the index file's
        # writer (a backup, a prune) over its view.
        with suppress(BackendError):
            backend.delete_many([name])
            backend.put(name, sealed)
    return name


def _is_endorsed(backend: Backend, name: str, key: MasterKey, index_id: ObjectId) -> bool:
    try:
        sealed = backend.get(name)
    except ObjectNotFoundError:
        return False
    try:
        open_endorsed(
            sealed,
            repo_id=key.repo_id,
            view_keys={key.epoch: key.view_key},
            signing_public=key.signing_public,
            index_id=index_id,
        )
    except (IntegrityError, FormatVersionError):
        return False
    return True
