"""Put-only key files (design.md §6a): make one, open one, and give it a fresh payload when
the master keys change. Internal: no command makes put-only keys yet (docs say what is
missing), and nothing here opens the repository for reading.

A put-only key file's wrapped secret is its X25519 private key followed by the repository's
signing key Σ, pinned when the key file is made; its payload (format/putpayload.py) is sealed
to its public key and signed with σ. Opening checks the signature against the pinned Σ, so a
payload that someone who can write to the store sealed to the key file (anyone can) is refused.
"""

from __future__ import annotations

import os
from dataclasses import replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from s3vault.crypto import aead, kdf, sealbox
from s3vault.crypto.keys import MasterKey
from s3vault.crypto.mac import hmac_sha256
from s3vault.errors import IntegrityError, WrongPasswordError
from s3vault.format.keyfile import PUT_ONLY, KdfSpec, KeyFile, KeyPayload, Sealed
from s3vault.format.putpayload import PutEpoch, PutOnlyPayload
from s3vault.ids import ObjectId
from s3vault.repository.sealer import PutSealer

PRIVATE_SIZE = 32
PINNED_SIZE = PRIVATE_SIZE + 32  # private key | Σ


def _keys(payload: KeyPayload, repo_id: ObjectId) -> dict[int, MasterKey]:
    return {
        e: MasterKey(secret, repo_id, e, payload.identity)
        for e, secret in payload.master_keys.items()
    }


def derive_payload(payload: KeyPayload, keyfile: KeyFile) -> PutOnlyPayload:
    """The signed payload of put-only key file ``keyfile``, from the full master keys.

    Raises:
        ValueError: not a put-only key file, or a dedup group (not built yet).
    """
    if not keyfile.put_only:
        msg = f"key file {keyfile.id.short} is not a put-only key"
        raise ValueError(msg)
    if keyfile.group:
        msg = "dedup groups (design.md §6a) are not implemented yet"
        raise ValueError(msg)
    keys = _keys(payload, keyfile.repo_id)
    any_key = keys[max(keys)]
    unsigned = PutOnlyPayload(
        epochs={e: PutEpoch(public=k.put_public, view=k.view_key) for e, k in keys.items()},
        writer=any_key.writer_secret(keyfile.id),
        id_key=any_key.id_key,
        chunker_seed=any_key.chunker_seed,
        audit_tag=hmac_sha256(any_key.audit_key, keyfile.host.encode())[:8].hex(),
    )
    message = unsigned.signed_message(keyfile.repo_id, keyfile.id)
    return unsigned.with_sig(any_key.signing_key.sign(message))


def signing_public(payload: KeyPayload, repo_id: ObjectId) -> bytes:
    """Σ, the repository's signing key that a new put-only key file pins."""
    epoch = max(payload.master_keys)
    return MasterKey(payload.master_keys[epoch], repo_id, epoch, payload.identity).signing_public


def seal_put_payload(keyfile: KeyFile, payload: KeyPayload) -> KeyFile:
    """The put-only key file with its payload (derived from the full ``payload``) sealed to
    its public key and a fresh MAC (as every key file's, design.md §6)."""
    put = derive_payload(payload, keyfile)
    epk, nonce, ct = sealbox.seal(keyfile.public, put.encode(), keyfile.payload_aad())
    sealed = replace(keyfile, payload=Sealed(epk=epk, nonce=nonce, ct=ct))
    epoch = max(payload.master_keys)
    mac_key = MasterKey(payload.master_keys[epoch], keyfile.repo_id, epoch, payload.identity)
    return replace(sealed, mac=mac_key.keyfile_mac(sealed.mac_input()))


def wrap_put_only_key(
    *,
    repo_id: ObjectId,
    payload: KeyPayload,
    password: bytes,
    host: str,
    kdf_cost: str = "default",
    label: str = "",
    hostname: str = "",
    username: str = "",
    created: str = "",
) -> KeyFile:
    """A new put-only key file for ``host`` that opens with ``password``; made by a full key
    (``payload``), which pins the repository's signing key Σ in it.

    Raises:
        ValueError: no host name.
    """
    if not host:
        msg = "a put-only key is bound to a host name"
        raise ValueError(msg)
    params = kdf.new_params(kdf_cost)
    private, public = sealbox.new_keypair()
    draft = KeyFile(
        id=ObjectId(os.urandom(32)),
        repo_id=repo_id,
        public=public,
        label=label,
        hostname=hostname,
        username=username,
        created=created,
        access=PUT_ONLY,
        host=host,
        kdf=kdf_spec(params),
    )
    signing = signing_public(payload, repo_id)
    kek = kdf.derive_kek(password, params)
    nonce = aead.new_nonce()
    ct = aead.seal(kek, nonce, private + signing, draft.secret_aad())
    return seal_put_payload(replace(draft, wrap=Sealed(nonce=nonce, ct=ct)), payload)


def open_put_payload(keyfile: KeyFile, secret: bytes) -> PutOnlyPayload:
    """The payload of a put-only key file, given its unwrapped secret (private key | Σ).

    Raises:
        IntegrityError: the key pair, the payload or its signature does not check out.
    """
    return open_put_key(keyfile, secret)[0]


def open_put_key(keyfile: KeyFile, secret: bytes) -> tuple[PutOnlyPayload, bytes]:
    """The payload of a put-only key file and the Σ it pins, given its unwrapped secret.

    Raises:
        IntegrityError: the key pair, the payload or its signature does not check out.
    """
    if not keyfile.put_only or len(secret) != PINNED_SIZE or keyfile.payload is None:
        msg = f"key file {keyfile.id.short} is damaged (not a put-only key's secret)"
        raise IntegrityError(msg)
    private, pinned = secret[:PRIVATE_SIZE], secret[PRIVATE_SIZE:]
    if sealbox.public_of(private) != keyfile.public:
        msg = f"key file {keyfile.id.short} is damaged (its key pair does not match)"
        raise IntegrityError(msg)
    sealed = keyfile.payload
    plain = sealbox.open_(private, sealed.epk, sealed.nonce, sealed.ct, keyfile.payload_aad())
    payload = PutOnlyPayload.decode(plain)
    try:
        Ed25519PublicKey.from_public_bytes(pinned).verify(
            payload.sig, payload.signed_message(keyfile.repo_id, keyfile.id)
        )
    except (InvalidSignature, ValueError):
        msg = (
            f"key file {keyfile.id.short}: its payload is not signed by this repository "
            "(replaced by someone who can write to the store?)"
        )
        raise IntegrityError(msg) from None
    return payload, pinned


def unwrap_put_only(keyfile: KeyFile, password: bytes) -> PutOnlyPayload:
    """The payload of a password put-only key file.

    Raises:
        WrongPasswordError: the password does not open it.
        IntegrityError: it opens, but its payload does not check out.
        KeyError_: its KDF parameters are unusable.
    """
    if keyfile.kdf is None or keyfile.wrap is None or not keyfile.put_only:
        msg = f"key file {keyfile.id.short} is not a put-only key that opens with a password"
        raise WrongPasswordError(msg)
    return open_put_payload(keyfile, password_secret(keyfile, password))


def kdf_spec(params: kdf.KdfParams) -> KdfSpec:
    """The key file's record of the Argon2id parameters its password is derived with."""
    return KdfSpec(
        alg=params.alg,
        memory_kib=params.memory_kib,
        iterations=params.iterations,
        lanes=params.lanes,
        salt=params.salt,
    )


def password_secret(keyfile: KeyFile, password: bytes) -> bytes:
    """The secret a password (or recovery) key file wraps under its KDF: its private key and
    the pinned Σ (a full key file written before the pin: the private key alone;
    ``keyring.open_payload`` opens a full key file's, ``open_put_payload`` a put-only one's).

    Raises:
        WrongPasswordError: the key file has no password wrap, or the password does not open it
            (or the file was tampered with).
        KeyError_: its KDF parameters are unusable.
    """
    if keyfile.kdf is None or keyfile.wrap is None:
        msg = f"key file {keyfile.id.short} does not open with a password"
        raise WrongPasswordError(msg)
    spec = keyfile.kdf
    params = kdf.KdfParams(
        alg=spec.alg,
        memory_kib=spec.memory_kib,
        iterations=spec.iterations,
        lanes=spec.lanes,
        salt=spec.salt,
    )
    kek = kdf.derive_kek(password, params)
    try:
        return aead.open_(kek, keyfile.wrap.nonce, keyfile.wrap.ct, keyfile.secret_aad())
    except IntegrityError:
        msg = "wrong password or damaged key file"
        raise WrongPasswordError(msg) from None


def put_sealer(keyfile: KeyFile, payload: PutOnlyPayload, epoch: int) -> PutSealer:
    """The sealing a put-only host does under ``epoch`` (the config's current one).

    Raises:
        IntegrityError: the payload holds no such epoch (a rotation has not reached it).
    """
    keys = payload.epochs.get(epoch)
    if keys is None:
        msg = (
            f"put-only key file {keyfile.id.short} lacks key epoch {epoch}: a full key must "
            "run `s3vault key sync`"
        )
        raise IntegrityError(msg)
    return PutSealer(
        repo_id=keyfile.repo_id,
        epoch=epoch,
        public=keys.public,
        key_id=keyfile.id,
        writer_secret=payload.writer,
        id_key=payload.id_key,
    )
