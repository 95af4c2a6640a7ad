"""Key files: wrap the master keys under a password, find the key file a password opens."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import replace

from s3vault.backend.base import Backend
from s3vault.crypto import aead, kdf
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, KeyError_, NoKeyError, WrongPasswordError
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId


def wrap_key(
    *,
    repo_id: ObjectId,
    payload: KeyPayload,
    password: bytes,
    kdf_profile: str = "default",
    label: str = "",
    hostname: str = "",
    username: str = "",
    created: str = "",
    kind: str = "password",
) -> KeyFile:
    """A new key file that opens with ``password`` (kind ``recovery``: a recovery secret)."""
    params = kdf.new_params(kdf_profile)
    key_id = ObjectId(os.urandom(32))
    draft = KeyFile(
        id=key_id,
        repo_id=repo_id,
        kind=kind,
        label=label,
        created=created,
        hostname=hostname,
        username=username,
        kdf_alg=params.alg,
        kdf_memory_kib=params.memory_kib,
        kdf_iterations=params.iterations,
        kdf_lanes=params.lanes,
        kdf_salt=params.salt,
        wrap_nonce=b"",
        wrap_ct=b"",
    )
    kek = kdf.derive_kek(password, params)
    nonce = aead.new_nonce()
    ct = aead.seal(kek, nonce, payload.encode(), draft.wrap_aad())
    wrapped = replace(draft, wrap_nonce=nonce, wrap_ct=ct)
    current = MasterKey(payload.master_keys[payload.current_epoch], repo_id, payload.current_epoch)
    return replace(wrapped, mac=current.keyfile_mac(wrapped.mac_input()))


def check_key_mac(keyfile: KeyFile, master: MasterKey) -> bool:
    """Does the key file carry a valid MAC under this master key?"""
    return hmac.compare_digest(keyfile.mac, master.keyfile_mac(keyfile.mac_input()))


def unwrap_key(keyfile: KeyFile, password: bytes) -> KeyPayload:
    """The master keys inside a key file.

    Raises:
        WrongPasswordError: the password does not open this key file (or it was tampered with).
        KeyError_: the key file's KDF parameters are unsupported or below the floor.
    """
    params = kdf.KdfParams(
        alg=keyfile.kdf_alg,
        memory_kib=keyfile.kdf_memory_kib,
        iterations=keyfile.kdf_iterations,
        lanes=keyfile.kdf_lanes,
        salt=keyfile.kdf_salt,
    )
    kek = kdf.derive_kek(password, params)
    try:
        plain = aead.open_(kek, keyfile.wrap_nonce, keyfile.wrap_ct, keyfile.wrap_aad())
    except IntegrityError:
        msg = "wrong password or damaged key file"
        raise WrongPasswordError(msg) from None
    payload = KeyPayload.decode(plain)
    master = MasterKey(
        payload.master_keys[payload.current_epoch], keyfile.repo_id, payload.current_epoch
    )
    if not check_key_mac(keyfile, master):
        msg = f"key file {keyfile.id.short} is damaged (its MAC does not match)"
        raise IntegrityError(msg)
    return payload


def find_key(
    backend: Backend,
    password: bytes,
    *,
    repo_id: ObjectId | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> tuple[KeyFile, KeyPayload]:
    """Try the password on every key file of the repository.

    Raises:
        NoKeyError: the repository has no key files.
        WrongPasswordError: no key file opens with this password.
    """
    names = sorted(info.name for info in backend.list(ObjectKind.KEYS.value + "/"))
    if not names:
        msg = f"no key files in {backend.location}: the repository is damaged or incomplete"
        raise NoKeyError(msg)
    damaged: list[str] = []
    for name in names:
        try:
            keyfile = KeyFile.decode(backend.get(name))
            if repo_id is not None and keyfile.repo_id != repo_id:
                if on_skip is not None:
                    on_skip(name, "belongs to another repository")
                continue
            return keyfile, unwrap_key(keyfile, password)
        except WrongPasswordError:
            continue
        except (IntegrityError, KeyError_) as exc:
            damaged.append(name)
            if on_skip is not None:
                on_skip(name, str(exc))
            continue
    msg = f"wrong password: it opens none of the {len(names)} key file(s) in {backend.location}"
    if damaged:
        msg += f" (damaged or unusable: {', '.join(damaged)})"
    raise WrongPasswordError(msg)


def store_key(backend: Backend, keyfile: KeyFile, password: bytes) -> None:
    """Write a key file, then read it back and unwrap it before reporting success (restic #3429).

    Raises:
        IntegrityError: the stored key file does not open as written.
    """
    name = object_name(ObjectKind.KEYS, keyfile.id)
    backend.put(name, keyfile.encode())
    stored = KeyFile.decode(backend.get(name))
    unwrap_key(stored, password)
