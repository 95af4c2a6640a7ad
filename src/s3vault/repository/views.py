"""Sealing the dedup view of an index file (design.md §6a), in its two sorts:

- *endorsed*, by a full key: ``view ‖ Ed25519 signature under σ`` over
  ``"s3vault-view-v1/endorsed" ‖ repository id ‖ view``, sealed under V_e (envelope version 1,
  kind index view, binding ``endorsed``). Every put-only host opens it and checks the signature
  with the Σ its key file pins: V_e is shared by all of them, the signature is not;
- *claimed*, by put-only key k: the view sealed under HKDF(V_e ‖ psk_k, salt = repository id,
  info ``s3vault/v1/view-claim``), binding ``claimed``: only k (and a full key, which derives
  psk_k) opens it, so no other put-only host deduplicates against k's unproven packs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import suppress

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3vault import compression
from s3vault.backend.base import Backend
from s3vault.crypto import aead
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, ObjectExistsError
from s3vault.format.dedupview import DedupView, view_of_index
from s3vault.format.envelope import HEADER_SIZE, EnvelopeHeader, SealedKind
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId

SIG_SIZE = 64
DOMAIN = b"s3vault-view-v1/endorsed"
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
    return compression.decompress(aead.open_(key, header.nonce, sealed[HEADER_SIZE:], aad))


def seal_endorsed(view: DedupView, key: MasterKey) -> bytes:
    """An endorsed view (a full key's), signed with σ and sealed under V_e."""
    plain = view.encode()
    sig = key.signing_key.sign(DOMAIN + key.repo_id + plain)
    return _seal(key.view_key, key.epoch, key.repo_id, ENDORSED, plain + sig)


def open_endorsed(
    sealed: bytes, *, repo_id: bytes, view_keys: dict[int, bytes], signing_public: bytes
) -> DedupView:
    """An endorsed view, for a put-only host (its payload's V_e, its pinned Σ).

    Raises:
        IntegrityError: not an endorsed view of this repository for these keys, damaged, or
            not signed with σ.
        FormatVersionError: a newer view.
    """
    plain = _open(view_keys, repo_id, ENDORSED, sealed)
    body, sig = plain[:-SIG_SIZE], plain[-SIG_SIZE:]
    try:
        Ed25519PublicKey.from_public_bytes(signing_public).verify(sig, DOMAIN + repo_id + body)
    except (InvalidSignature, ValueError):
        msg = "a dedup view is not signed by this repository (written by a put-only key?)"
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


def endorsed_view(plaintext: bytes, proven: Collection[ObjectId] = ()) -> DedupView:
    """The view ``store_endorsed`` seals for an index file (its ``plaintext``): its full-key
    packs and the put-only writers' packs in ``proven``.

    Raises:
        IntegrityError: a malformed index file.
    """
    return view_of_index(plaintext, proven)


def open_endorsed_by(sealed: bytes, keys: Mapping[int, MasterKey]) -> DedupView:
    """An endorsed view, opened by a full key (its master keys by epoch).

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
    ``proven`` (maintenance/endorse.py); returns the name. A retried put that had landed is
    fine.

    Raises:
        BackendError: the store refused it.
        IntegrityError: a malformed index file.
    """
    name = object_name(ObjectKind.VIEWS, index_id)
    sealed = seal_endorsed(endorsed_view(plaintext, proven), key)
    with suppress(ObjectExistsError):  # an earlier attempt (or the switch) wrote this view
        backend.put(name, sealed)
    return name
