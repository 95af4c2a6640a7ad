"""The config's view (design.md §6a): the settings a put-only host needs (chunker, pack size,
compression, current epoch, Object Lock, grace), which it cannot read from the config itself
(sealed under K_enc).

    view = envelope (version 1, kind config, epoch e) under V_e with binding "view" | signature

The signature (64 bytes, Ed25519 under the repository's σ) covers ``"s3vault-config-view-v1"
‖ repository id ‖`` the envelope, and the put-only host checks it with the Σ its key file pins:
V_e is shared by every put-only key, so without the signature any of them could make a view.
Not yet stored anywhere: the config marker of format version 2 will carry it.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from s3vault import compression
from s3vault.crypto import aead
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.configfile import ConfigFile
from s3vault.format.envelope import HEADER_SIZE, OVERHEAD, EnvelopeHeader, SealedKind

SIG_SIZE = 64
DOMAIN = b"s3vault-config-view-v1"
BINDING = b"view"


def seal_view(config: ConfigFile, key: MasterKey) -> bytes:
    """The view of ``config`` for put-only hosts, sealed under ``key``'s V_e and signed."""
    nonce = aead.new_nonce()
    header = EnvelopeHeader(kind=SealedKind.CONFIG, epoch=key.epoch, nonce=nonce).encode()
    body = compression.compress(config.encode(), 3)
    sealed = header + aead.seal(key.view_key, nonce, body, header + key.repo_id + BINDING)
    return sealed + key.signing_key.sign(DOMAIN + key.repo_id + sealed)


def open_view(
    view: bytes, *, repo_id: bytes, view_keys: dict[int, bytes], signing_public: bytes
) -> ConfigFile:
    """The settings in a config's view, for a put-only host: ``view_keys`` are the V_e of its
    payload, ``signing_public`` the Σ its key file pins.

    Raises:
        IntegrityError: not signed by this repository, not sealed for these keys, damaged, or
            a view of another repository.
    """
    if len(view) < OVERHEAD + SIG_SIZE:
        msg = "the config's view is too short"
        raise IntegrityError(msg)
    sealed, sig = view[:-SIG_SIZE], view[-SIG_SIZE:]
    try:
        Ed25519PublicKey.from_public_bytes(signing_public).verify(sig, DOMAIN + repo_id + sealed)
    except (InvalidSignature, ValueError):
        msg = "the config's view is not signed by this repository"
        raise IntegrityError(msg) from None
    header = EnvelopeHeader.decode(sealed)
    key = view_keys.get(header.epoch)
    if header.kind is not SealedKind.CONFIG or header.version != 1 or key is None:
        msg = f"the config's view is sealed under key epoch {header.epoch}, which this key lacks"
        raise IntegrityError(msg)
    aad = sealed[:HEADER_SIZE] + repo_id + BINDING
    plain = aead.open_(key, header.nonce, sealed[HEADER_SIZE:], aad)
    config = ConfigFile.decode(compression.decompress_file(plain, len(sealed)))
    if config.repo_id != repo_id:
        msg = "the config's view belongs to another repository"
        raise IntegrityError(msg)
    return config
