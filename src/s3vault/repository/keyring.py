"""Key files: make them, open them, find the one a password (or KMS) opens, and re-seal the
payload of every key file when the master keys change (design.md §6)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

from s3vault.backend.base import Backend
from s3vault.crypto import aead, kdf, sealbox
from s3vault.crypto.keys import MasterKey
from s3vault.crypto.mac import same
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    KeyError_,
    NoKeyError,
    NoPasswordError,
    ObjectNotFoundError,
    PutOnlyKeyError,
    S3VaultError,
    WrongPasswordError,
)
from s3vault.format.keyfile import PUT_ONLY, KeyFile, KeyPayload, Sealed
from s3vault.format.layout import ObjectKind, object_name, within_layout
from s3vault.format.putpayload import PutOnlyPayload
from s3vault.ids import ObjectId
from s3vault.repository import putkeys
from s3vault.repository.keyorder import KeyOrder


class KeyWrapService(Protocol):
    """A key-management service that encrypts small secrets under a named key (AWS KMS)."""

    def encrypt(self, key_id: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        """Ciphertext blob of ``plaintext`` under ``key_id``, bound to ``context``."""
        ...

    def decrypt(self, key_id: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        """The plaintext, if this host may use ``key_id`` and ``context`` matches."""
        ...


def _mac_key(payload: KeyPayload, repo_id: ObjectId) -> MasterKey:
    epoch = max(payload.master_keys)
    return MasterKey(payload.master_keys[epoch], repo_id, epoch, payload.identity)


def seal_payload(keyfile: KeyFile, payload: KeyPayload) -> KeyFile:
    """The key file with ``payload`` sealed to its public key and a fresh MAC."""
    epk, nonce, ct = sealbox.seal(keyfile.public, payload.encode(), keyfile.payload_aad())
    sealed = replace(keyfile, payload=Sealed(epk=epk, nonce=nonce, ct=ct))
    return replace(sealed, mac=_mac_key(payload, keyfile.repo_id).keyfile_mac(sealed.mac_input()))


def _draft(repo_id: ObjectId, public: bytes, **fields: object) -> KeyFile:
    return KeyFile(id=ObjectId(os.urandom(32)), repo_id=repo_id, public=public, **fields)  # type: ignore[arg-type]


def wrap_key(
    *,
    repo_id: ObjectId,
    payload: KeyPayload,
    password: bytes,
    kdf_cost: str = "default",
    label: str = "",
    hostname: str = "",
    username: str = "",
    created: str = "",
    kind: str = "password",
) -> KeyFile:
    """A new key file that opens with ``password`` (kind ``recovery``: a recovery secret)."""
    params = kdf.new_params(kdf_cost)
    private, public = sealbox.new_keypair()
    draft = _draft(
        repo_id,
        public,
        kind=kind,
        label=label,
        hostname=hostname,
        username=username,
        created=created,
        kdf=putkeys.kdf_spec(params),
    )
    kek = kdf.derive_kek(password, params)
    nonce = aead.new_nonce()
    secret = private + putkeys.signing_public(payload, repo_id)  # Σ pinned (§13)
    wrapped = replace(
        draft, wrap=Sealed(nonce=nonce, ct=aead.seal(kek, nonce, secret, draft.secret_aad()))
    )
    return seal_payload(wrapped, payload)


def kms_context(keyfile: KeyFile) -> dict[str, str]:
    """The KMS encryption context of a key file: its repository and key id."""
    return {"s3vault-repository": keyfile.repo_id.hex(), "s3vault-key": keyfile.id.hex()}


def wrap_key_kms(
    *,
    repo_id: ObjectId,
    payload: KeyPayload,
    kms: KeyWrapService,
    kms_key_id: str,
    label: str = "",
    hostname: str = "",
    username: str = "",
    created: str = "",
) -> KeyFile:
    """A new key file whose private key KMS holds: it opens wherever ``kms_key_id`` may be
    used for decryption, without a password."""
    private, public = sealbox.new_keypair()
    draft = _draft(
        repo_id,
        public,
        kind="kms",
        label=label,
        hostname=hostname,
        username=username,
        created=created,
        kms_key_id=kms_key_id,
    )
    secret = private + putkeys.signing_public(payload, repo_id)  # Σ pinned (§13)
    ct = kms.encrypt(kms_key_id, secret, kms_context(draft))
    return seal_payload(replace(draft, kms_ct=ct), payload)


def wrap_put_only_key_kms(
    *,
    repo_id: ObjectId,
    payload: KeyPayload,
    kms: KeyWrapService,
    kms_key_id: str,
    host: str,
    label: str = "",
    hostname: str = "",
    username: str = "",
    created: str = "",
) -> KeyFile:
    """A new put-only key file for ``host`` (design.md §6a) whose secret (private key and the
    pinned Σ) KMS holds: a backup host whose role may decrypt with ``kms_key_id`` writes with
    it, without a password, and reads nothing.

    Raises:
        ValueError: no host name.
    """
    if not host:
        msg = "a put-only key is bound to a host name"
        raise ValueError(msg)
    private, public = sealbox.new_keypair()
    draft = replace(
        _draft(
            repo_id,
            public,
            kind="kms",
            label=label,
            hostname=hostname,
            username=username,
            created=created,
            kms_key_id=kms_key_id,
        ),
        access=PUT_ONLY,
        host=host,
    )
    secret = private + putkeys.signing_public(payload, repo_id)
    ct = kms.encrypt(kms_key_id, secret, kms_context(draft))
    return putkeys.seal_put_payload(replace(draft, kms_ct=ct), payload)


def unwrap_put_only_kms(keyfile: KeyFile, kms: KeyWrapService) -> PutOnlyPayload:
    """The payload of a KMS put-only key file (KMS decrypts its secret).

    Raises:
        BackendError: KMS refused or is unreachable.
        IntegrityError: the key file is damaged, or its payload is not the repository's.
    """
    secret = kms.decrypt(keyfile.kms_key_id, keyfile.kms_ct, kms_context(keyfile))
    return putkeys.open_put_payload(keyfile, secret)


def check_key_mac(keyfile: KeyFile, key: MasterKey) -> bool:
    """Does the key file carry a valid MAC under this repository's identity?"""
    return same(keyfile.mac, key.keyfile_mac(keyfile.mac_input()))


def pin_state(keyfile: KeyFile) -> bool | None:
    """Does the key file pin the repository's identity (design.md §6: its wrapped secret ends
    with Σ)? Known without opening for password and recovery key files (the length of their
    authenticated wrap) and put-only ones (always); None for a KMS key file, whose ciphertext
    KMS formats."""
    if keyfile.put_only:
        return True
    if keyfile.wrap is not None:
        return len(keyfile.wrap.ct) == putkeys.PINNED_SIZE + aead.TAG_SIZE
    return None


def open_payload(keyfile: KeyFile, secret: bytes) -> KeyPayload:
    """The master keys inside a key file, given its unwrapped secret: its private key, then
    the pinned Σ (key files written before the pin hold the private key alone).

    Raises:
        IntegrityError: the payload or the MAC does not authenticate, or the payload is not
            the repository the key file was made for (a substituted payload, design.md §13).
    """
    if keyfile.put_only:  # its payload holds no master keys (putkeys.py opens it)
        msg = f"key file {keyfile.id.short} is a put-only key: it opens nothing for reading"
        raise IntegrityError(msg)
    private, pinned = secret[: putkeys.PRIVATE_SIZE], secret[putkeys.PRIVATE_SIZE :]
    sealed = keyfile.payload
    if (
        sealed is None
        or len(secret) not in (putkeys.PRIVATE_SIZE, putkeys.PINNED_SIZE)
        or sealbox.public_of(private) != keyfile.public
    ):
        msg = f"key file {keyfile.id.short} is damaged (its key pair does not match)"
        raise IntegrityError(msg)
    try:
        plain = sealbox.open_(private, sealed.epk, sealed.nonce, sealed.ct, keyfile.payload_aad())
    except IntegrityError:
        msg = f"key file {keyfile.id.short} is damaged (its payload does not authenticate)"
        raise IntegrityError(msg) from None
    payload = KeyPayload.decode(plain)
    if pinned and not same(pinned, putkeys.signing_public(payload, keyfile.repo_id)):
        msg = (
            f"key file {keyfile.id.short} opens, but its payload is not the repository this key "
            "was made for: someone who can write to the store replaced the key file's payload "
            "(and likely the config). Do not back up to it; compare the config and keys/ with "
            "a replica or bucket versions (docs/security.md)"
        )
        raise IntegrityError(msg)
    if not check_key_mac(keyfile, _mac_key(payload, keyfile.repo_id)):
        msg = f"key file {keyfile.id.short} is damaged (its MAC does not match)"
        raise IntegrityError(msg)
    return payload


def unwrap_key(keyfile: KeyFile, password: bytes) -> KeyPayload:
    """The master keys inside a password or recovery key file.

    Raises:
        WrongPasswordError: the password does not open this key file (or it was tampered with).
        KeyError_: the key file's KDF parameters are unsupported or below the floor.
    """
    return open_payload(keyfile, putkeys.password_secret(keyfile, password))


def unwrap_kms(keyfile: KeyFile, kms: KeyWrapService) -> KeyPayload:
    """The master keys inside a KMS key file (KMS decrypts its private key).

    Raises:
        BackendError: KMS refused (no permission, unknown key, wrong context) or is unreachable.
        IntegrityError: the key file is damaged.
    """
    secret = kms.decrypt(keyfile.kms_key_id, keyfile.kms_ct, kms_context(keyfile))
    return open_payload(keyfile, secret)


def _key_files(backend: Backend) -> Iterator[tuple[str, str]]:
    """(name, version) of every key file, by name."""
    for info in sorted(backend.list(ObjectKind.KEYS.value + "/"), key=lambda i: i.name):
        if within_layout(ObjectKind.KEYS, info.name):
            yield info.name, info.version


def find_key(
    backend: Backend,
    password: bytes,
    *,
    repo_id: ObjectId | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    order: KeyOrder | None = None,
) -> tuple[KeyFile, KeyPayload]:
    """Try the password on every password and recovery key file of the repository, in
    ``order`` (repository/keyorder.py: the likely one first, so that one key derivation is
    usually all it costs). A key file that is damaged or unusable is skipped; if no key file
    opens, the error tells a damaged key file apart from a wrong password wherever the key
    files allow it.

    Raises:
        NoKeyError: the repository has no key files.
        WrongPasswordError: no key file opens with this password.
        KeyError_: the password opens a key file that is damaged, and no other key file.
        PutOnlyKeyError: it opens only a put-only key file (design.md §6a), which reads
            nothing.
    """
    order = order or KeyOrder()
    names = [name for name, _ in _key_files(backend)]
    if not names:
        msg = f"no key files in {backend.location}: the repository is damaged or incomplete"
        raise NoKeyError(msg)
    search = _KeySearch(password, repo_id, on_skip)
    later: list[tuple[str, KeyFile]] = []
    for name in order.names(names):
        keyfile = search.read(backend, name)
        if keyfile is None:
            continue
        if order.later(name, keyfile):
            later.append((name, keyfile))
            continue
        payload = search.open(name, keyfile)
        if payload is not None:
            return keyfile, payload
    for name, keyfile in sorted(later, key=lambda item: item[1].put_only):  # full keys first
        payload = search.open(name, keyfile)
        if payload is not None:
            return keyfile, payload
    if search.put_only is not None:
        kf = search.put_only
        msg = (
            f"the password opens put-only key {kf.id.short} (host {kf.host}): a put-only key "
            "writes backups and reads nothing; this needs a full key (a password, recovery or "
            "KMS key)"
        )
        raise PutOnlyKeyError(msg)
    _refuse_a_foreign_config(backend.location, len(names), search)
    error = _no_key_opened(backend.location, len(names), search.damaged, search.opened)
    if order.kind == "recovery" and isinstance(error, WrongPasswordError):
        msg = (
            f"wrong recovery key: it opens none of the {len(names)} key file(s) in "
            f"{backend.location} (each repository has its own recovery key, printed once by "
            "its `init`: a copy made by `copy --to` has another than its source)"
        )
        error = WrongPasswordError(msg)
    if search.newer:
        listed = ", ".join(f"key file {_short(n)} ({why})" for n, why in search.newer)
        error = type(error)(f"{error}; {listed} cannot be read by this s3vault")
    raise error


class _KeySearch:
    """One password tried on key files, and what each skipped file was (for the error)."""

    def __init__(
        self,
        password: bytes,
        repo_id: ObjectId | None,
        on_skip: Callable[[str, str], None] | None,
    ) -> None:
        self.password = password
        self.repo_id = repo_id
        self.on_skip = on_skip
        self.damaged: list[tuple[str, str]] = []  # (name, why): fails its structure or checks
        self.opened: list[tuple[str, str]] = []  # the password opens it, but it is damaged
        self.newer: list[tuple[str, str]] = []  # written by a newer s3vault
        self.put_only: KeyFile | None = None  # a put-only key file the password opens
        self.foreign: list[tuple[str, KeyFile]] = []  # of another repository than the config's

    def skip(self, into: list[tuple[str, str]] | None, name: str, why: str) -> None:
        if into is not None:
            into.append((name, why))
        if self.on_skip is not None:
            self.on_skip(name, why)

    def read(self, backend: Backend, name: str) -> KeyFile | None:
        """The key file ``name``, or None (noted) when it is gone, damaged or too new."""
        try:
            return KeyFile.decode(backend.get(name))
        except ObjectNotFoundError:
            return None  # removed since the listing (key remove)
        except (IntegrityError, FormatVersionError) as exc:
            into = self.newer if isinstance(exc, FormatVersionError) else self.damaged
            self.skip(into, name, str(exc))
            return None

    def refuse_put_only(self, name: str, keyfile: KeyFile) -> None:
        """A put-only key file opens nothing for reading: note it if the password is its (the
        error says so when no full key file opens with the same password)."""
        try:
            putkeys.unwrap_put_only(keyfile, self.password)
        except WrongPasswordError:
            return
        except (IntegrityError, KeyError_) as exc:
            self.skip(self.damaged, name, str(exc))
            return
        self.put_only = keyfile

    def open(self, name: str, keyfile: KeyFile) -> KeyPayload | None:
        """The master keys, if the password opens this key file."""
        misnamed = None
        if object_name(ObjectKind.KEYS, keyfile.id) != name:
            misnamed = f"it holds key file {keyfile.id.short}'s content (swapped or renamed)"
        if self.repo_id is not None and keyfile.repo_id != self.repo_id:
            self.foreign.append((name, keyfile))
            self.skip(None, name, "belongs to another repository")
            return None
        if keyfile.put_only:
            self.refuse_put_only(name, keyfile)
            return None
        try:
            if keyfile.kind == "kms":
                raise WrongPasswordError(name)  # a password never opens a KMS key file
            payload = unwrap_key(keyfile, self.password)
        except WrongPasswordError:
            if misnamed:
                self.skip(self.damaged, name, misnamed)
            return None
        except (IntegrityError, KeyError_) as exc:
            # IntegrityError: the password opened the wrapped key, so the payload or MAC
            # that failed is the file's fault. KeyError_: its KDF parameters are unusable.
            into = self.opened if isinstance(exc, IntegrityError) else self.damaged
            self.skip(into, name, str(exc))
            return None
        if misnamed:
            # Its content authenticates, so it still opens the repository: refusing a whole
            # key for its name would make the repository worse. verify reports the name.
            self.skip(None, name, f"{misnamed}; its content is whole and opens the repository")
        return payload


FOREIGN_TRIED = 4  # key files of another repository the password is tried on, at most


def _refuse_a_foreign_config(location: str, count: int, search: _KeySearch) -> None:
    """No key file opened: when every key file listed names another repository than the
    config, or the password opens one that does, the config is not this repository's (it
    said "wrong password", exit 12, with the right password: an attack pass, 2026-12-07).

    Raises:
        IntegrityError: the config belongs to another repository than the key files.
    """
    if not search.foreign:
        return
    # every key file listed, not only those read whole: own key files that are damaged beside
    # a stray foreign one blamed a good config (an attack pass, 2026-12-07)
    if len(search.foreign) < count:  # the password's key file may be foreign
        opened = None
        for name, keyfile in search.foreign[:FOREIGN_TRIED]:
            if keyfile.put_only or keyfile.kind == "kms":
                continue
            with contextlib.suppress(WrongPasswordError, IntegrityError, KeyError_):
                unwrap_key(keyfile, search.password)
                opened = name
                break
        if opened is None:
            return
        msg = (
            f"the password opens key file {_short(opened)} in {location}, which belongs to "
            "another repository than the config object names: the config (or that key file) "
            "was copied over from another repository; put back this repository's own config "
            "(a bucket version, a file backup; docs/troubleshooting.md, 'When the repository "
            "is damaged')"
        )
        raise IntegrityError(msg)
    msg = (
        f"the config object of the repository at {location} is not its own: none of its "
        f"{count} key file(s) belongs to the repository the config names (another "
        "repository's config was put in its place, or its key files were replaced); put back "
        "its own config (a bucket version, a file backup; docs/troubleshooting.md, 'When the "
        "repository is damaged')"
    )
    raise IntegrityError(msg)


RECOVERY_HINT = (
    "open the repository with another key (the recovery key: --recovery-key-file FILE, or "
    "another password), set a new password with `s3vault key passwd` and remove the damaged "
    "key file with `s3vault key remove ID`"
)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1][:8]


def _no_key_opened(
    location: str, count: int, damaged: list[tuple[str, str]], opened: list[tuple[str, str]]
) -> KeyError_:
    """The error for a password that opens no key file, naming damaged key files."""
    if opened:
        name, why = opened[0]
        msg = (
            f"key file {_short(name)} in {location} is damaged: the password opens it, but it "
            f"fails its checks ({why}); {RECOVERY_HINT}"
        )
        return KeyError_(msg)
    if not damaged:
        msg = f"wrong password: it opens none of the {count} key file(s) in {location}"
        return WrongPasswordError(msg)
    listed = ", ".join(f"key file {_short(n)} ({why})" for n, why in damaged)
    msg = (
        f"the password opens none of the {count} key file(s) in {location}, and {listed} "
        f"{'is' if len(damaged) == 1 else 'are'} damaged: if the password is for a damaged "
        f"one, {RECOVERY_HINT}"
    )
    return WrongPasswordError(msg)


def find_kms_key(
    backend: Backend,
    kms: KeyWrapService,
    *,
    repo_id: ObjectId,
    on_skip: Callable[[str, str], None] | None = None,
) -> tuple[KeyFile, KeyPayload]:
    """Open the repository through the first KMS key file KMS decrypts for this host.

    Raises:
        NoKeyError: no KMS key file, or KMS opened none of them (the reasons are in the
            message).
        PutOnlyKeyError: KMS opens only a put-only key file (design.md §6a).
    """
    reasons: list[str] = []
    put_only: list[KeyFile] = []
    for name, _ in _key_files(backend):
        try:
            keyfile = KeyFile.decode(backend.get(name))
        except S3VaultError as exc:
            if on_skip is not None:
                on_skip(name, str(exc))
            continue
        if keyfile.kind != "kms" or keyfile.repo_id != repo_id:
            continue
        if keyfile.put_only:
            put_only.append(keyfile)
            continue
        try:
            return keyfile, unwrap_kms(keyfile, kms)
        except S3VaultError as exc:
            reasons.append(f"{keyfile.id.short} ({keyfile.kms_key_id}): {exc}")
            if on_skip is not None:
                on_skip(name, str(exc))
    for keyfile in put_only:  # no full key opened: is this a put-only host?
        try:
            unwrap_put_only_kms(keyfile, kms)
        except S3VaultError as exc:
            reasons.append(f"{keyfile.id.short} (put-only, {keyfile.kms_key_id}): {exc}")
            continue
        msg = (
            f"KMS opens put-only key {keyfile.id.short} (host {keyfile.host}): a put-only key "
            "writes backups and reads nothing; this needs a full key (a password, recovery or "
            "KMS key)"
        )
        raise PutOnlyKeyError(msg)
    if not reasons:
        msg = (
            f"no password given, and the repository at {backend.location} has no KMS key "
            "file: use --password-file, --password-command or S3VAULT_PASSWORD"
        )
        raise NoPasswordError(msg)
    msg = f"KMS opened none of the {len(reasons)} KMS key file(s): " + "; ".join(reasons)
    raise NoKeyError(msg)


def store_key(backend: Backend, keyfile: KeyFile, opener: Callable[[KeyFile], object]) -> None:
    """Write a key file, then read it back and open it before reporting success (restic #3429).

    Raises:
        IntegrityError: the stored key file does not open as written.
    """
    name = object_name(ObjectKind.KEYS, keyfile.id)
    backend.put(name, keyfile.encode())
    opener(KeyFile.decode(backend.get(name)))


def reseal_all(
    backend: Backend,
    payload: KeyPayload,
    repo_id: ObjectId,
    *,
    on_skip: Callable[[str, str], None] | None = None,
) -> int:
    """Give every authentic key file of the repository ``payload`` (sealed to its own public
    key), each by a compare-and-swap overwrite. Key files that do not authenticate (MAC under
    the repository's identity) are left alone and reported. Returns how many were re-sealed.

    Raises:
        UnsupportedOperationError: the store cannot overwrite conditionally.
        VersionMismatchError: a key file changed meanwhile (run again).
    """
    done = 0
    mac_key = _mac_key(payload, repo_id)
    for name, version in _key_files(backend):
        try:
            keyfile = KeyFile.decode(backend.get(name))
        except S3VaultError as exc:
            if on_skip is not None:
                on_skip(name, str(exc))
            continue
        if keyfile.repo_id != repo_id or not check_key_mac(keyfile, mac_key):
            if on_skip is not None:
                on_skip(name, "does not authenticate under this repository's keys")
            continue
        if keyfile.put_only:  # its own kind of payload, derived from the master keys (§6a)
            fresh = putkeys.seal_put_payload(keyfile, payload)
        else:
            fresh = seal_payload(keyfile, payload)
        backend.replace(name, fresh.encode(), version)
        if KeyFile.decode(backend.get(name)) != fresh:
            msg = f"key file {name} does not read back as written"
            raise IntegrityError(msg)
        done += 1
    return done
