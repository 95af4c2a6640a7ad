"""The put-only handle (design.md §6a): a repository opened with a put-only key, which seals
and reads nothing.

Opening reads the plaintext config marker, finds the put-only key file the secret opens (its
payload signed by the repository's σ and checked against the Σ the key file pins), and takes
the settings from the config's view (signed with σ, sealed under V_e): the host never holds
K_enc, x_e or the identity. The handle gives the sealing of the config's current epoch
(``PutSealer``), stores standalone files as version 2 envelopes, and makes the blob writer of
a run (``PutRun``: packs sealed to X_e, index files of version 2 with the run's sender);
ops/backup_putonly.py is the backup built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from s3vault import compression
from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import Backend
from s3vault.crypto.hashing import storage_id
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    KeyError_,
    NoKeyError,
    ObjectExistsError,
    ObjectNotFoundError,
    S3VaultError,
    WrongPasswordError,
)
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.configfile import ConfigFile, ConfigMarker
from s3vault.format.indexfile import IndexFile
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind, object_name, within_layout
from s3vault.format.packfile import BlobType
from s3vault.format.putpayload import PutOnlyPayload
from s3vault.ids import ObjectId
from s3vault.repository import configview, keyring, putkeys
from s3vault.repository.keyorder import KeyMemory, KeyOrder
from s3vault.repository.sealer import PutRun, PutSealer
from s3vault.repository.writer import BlobWriter, WriterIndex, sealed_kind_for

SWITCH = "a full key switches it: `s3vault key add --put-only --switch-format`"


@dataclass(frozen=True, slots=True, kw_only=True)
class PutOnlyRepository:
    """A repository opened with a put-only key: its settings (from the config's view), the key
    file and its payload, and the sealing of the current epoch. No method reads an object."""

    backend: Backend
    config: ConfigFile
    keyfile: KeyFile
    payload: PutOnlyPayload
    signing_public: bytes  # Σ, as the key file pins it
    requests: RequestCounts | None = None  # the backend stack's counts (a command reports them)
    cache_dir: Path | None = None  # the host's cache of views and of its state (putcache.py)

    def __repr__(self) -> str:  # never show key material
        return f"PutOnlyRepository({self.backend.location}, host {self.keyfile.host})"

    @property
    def id(self) -> ObjectId:
        """The repository id."""
        return self.config.repo_id

    @property
    def host(self) -> str:
        """The one host name this key writes snapshots for."""
        return self.keyfile.host

    def sealer(self) -> PutSealer:
        """The sealing of the config's current epoch.

        Raises:
            IntegrityError: the key file lacks that epoch (a full key runs `key sync`).
        """
        return putkeys.put_sealer(self.keyfile, self.payload, self.config.current_epoch)

    def save_file(self, kind: ObjectKind, plaintext: bytes, sealer: PutSealer) -> ObjectId:
        """Seal a standalone file as a version 2 envelope (a fresh ephemeral key) and store it
        under the hash of its sealed bytes (create-only; a retried PUT that had landed is
        fine)."""
        sealed = sealer.seal_file(sealed_kind_for(kind), plaintext)
        if len(plaintext) > compression.file_limit(len(sealed)):  # the readers' bomb limit
            msg = (
                f"{kind.value} file of {len(plaintext)} bytes packs into {len(sealed)}: more "
                "than a full key reads from a put-only host (compression.py FILE_RATIO), so "
                "it was not stored (what it needed stays until a prune); back these paths up "
                "in parts, or with a full key"
            )
            raise S3VaultError(msg)
        oid = storage_id(sealed)
        name = object_name(kind, oid)
        try:
            self.backend.put(name, sealed)
        except ObjectExistsError:
            if self.backend.stat(name).size != len(sealed):
                raise
        return oid

    def blob_writer(self, stored: WriterIndex, *, verify: bool = True) -> TreeKeepingWriter:
        """A writer of new blobs for one run: every pack sealed to X_e under the run's key
        (``PutRun``), its index files version 2 with the run's sender, sealed as version 2
        envelopes. ``stored``: what it deduplicates against (its state's and the endorsed
        views' blob ids, repository/putstate.py).

        Raises:
            IntegrityError: the key file lacks the current epoch.
        """
        sealer = self.sealer()
        run = PutRun(sealer)

        def save_index(ifile: IndexFile) -> ObjectId:
            packs = tuple(replace(p, sender=run.sender) for p in ifile.packs)
            plain = replace(ifile, packs=packs).encode()
            return self.save_file(ObjectKind.INDEX, plain, sealer)

        return TreeKeepingWriter(
            backend=self.backend,
            sealer=run,
            index=stored,
            save_index=save_index,
            pack_size=self.config.pack_size,
            compression_level=self.config.compression_level,
            verify=verify,
            max_unindexed_age=self.config.min_grace / 2,
        )


def open_put_only(
    backend: Backend,
    marker: ConfigMarker,
    password: bytes,
    *,
    kms: keyring.KeyWrapService | None = None,
    cache_dir: Path | None = None,
    key_hint: str = "",
) -> PutOnlyRepository:
    """Open the repository with the put-only key file that ``password`` (or, with an empty
    password, ``kms``) opens. The key file ``key_hint`` names, else the one that opened the
    repository last on this host (``cache_dir``), is tried first (repository/keyorder.py): a
    fleet's repository holds a put-only key per host, each a key derivation to try.

    Raises:
        KeyError_: no put-only key file opens; or the repository has no config view yet
            (format version 1).
        IntegrityError: the config's view is not signed by this repository or does not open.
    """
    memory = KeyMemory(cache_dir, marker.repo_id)
    keyfile, payload, pinned = find_put_only_key(
        backend, password, kms=kms, repo_id=marker.repo_id, order=memory.order(KeyOrder(key_hint))
    )
    memory.opened(keyfile.id)
    if marker.version < PUT_ONLY_FORMAT or not marker.view:
        msg = (
            f"the repository at {backend.location} is at format version {marker.version}, which "
            f"put-only keys cannot use: {SWITCH} (docs/keys.md)"
        )
        raise KeyError_(msg)
    views = {e: keys.view for e, keys in payload.epochs.items()}
    try:
        config = configview.open_view(
            marker.view, repo_id=marker.repo_id, view_keys=views, signing_public=pinned
        )
    except IntegrityError as exc:
        msg = f"the config's view of the repository at {backend.location}: {exc}"
        raise IntegrityError(msg) from None
    if config.version != marker.version:
        msg = "the config's view does not match its marker's format version"
        raise IntegrityError(msg)
    return PutOnlyRepository(
        backend=backend, config=config, keyfile=keyfile, payload=payload, signing_public=pinned
    )


def find_put_only_key(
    backend: Backend,
    password: bytes,
    *,
    repo_id: ObjectId,
    kms: keyring.KeyWrapService | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    order: KeyOrder | None = None,
) -> tuple[KeyFile, PutOnlyPayload, bytes]:
    """(key file, payload, pinned Σ) of the first put-only key file of this repository that
    the password (or KMS) opens, trying the hinted ones first (``order``).

    Raises:
        NoKeyError: no put-only key file opens (the message says why for each tried).
    """
    reasons: list[str] = []
    listed = backend.list(ObjectKind.KEYS.value + "/")
    names = sorted(i.name for i in listed if within_layout(ObjectKind.KEYS, i.name))
    for name in (order or KeyOrder()).names(names):
        try:
            keyfile = KeyFile.decode(backend.get(name))
        except ObjectNotFoundError:
            continue
        except (IntegrityError, FormatVersionError) as exc:
            if on_skip is not None:
                on_skip(name, str(exc))
            continue
        if not keyfile.put_only or keyfile.repo_id != repo_id:
            continue
        try:
            if password or kms is None:
                secret = putkeys.password_secret(keyfile, password)
            elif keyfile.kind == "kms":
                secret = kms.decrypt(
                    keyfile.kms_key_id, keyfile.kms_ct, keyring.kms_context(keyfile)
                )
            else:
                continue
            payload, pinned = putkeys.open_put_key(keyfile, secret)
        except WrongPasswordError:
            continue
        except S3VaultError as exc:
            reasons.append(f"{keyfile.id.short}: {exc}")
            continue
        return keyfile, payload, pinned
    what = "KMS" if not password and kms is not None else "the password"
    msg = f"{what} opens no put-only key file of the repository at {backend.location}"
    if reasons:
        msg += " (" + "; ".join(reasons) + ")"
    raise NoKeyError(msg)


class TreeKeepingWriter(BlobWriter):
    """A blob writer that also keeps the plaintext of every tree blob given to it: what a
    put-only host's state needs of its new snapshot (it cannot read its trees back)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trees: dict[ObjectId, bytes] = {}

    def save(
        self, btype: BlobType, data: bytes | memoryview, bid: ObjectId | None = None
    ) -> tuple[ObjectId, bool]:
        """As BlobWriter.save; a tree blob's plaintext is kept.

        Raises:
            IntegrityError, BackendError: as BlobWriter.save.
        """
        bid, new = super().save(btype, data, bid)
        if btype is BlobType.TREE:
            self.trees[bid] = bytes(data)
        return bid, new
