"""The host binding of snapshots (and audit records) a put-only key wrote, and the limits of
its index files (design.md §6a, "Snapshots and tags"):
a full-key reader refuses, as forged, a snapshot whose ``hostname`` is not the host of the
put-only key file that sealed it, so one host cannot write snapshots that pass for another's.

The writer is the key id unmasked from the envelope's sender (``Sealer.put_key``); its host
comes from its key file (authentic under the repository's identity), or, for a removed key,
from the config's ``revoked`` list. A writer found in neither is refused too: deleting one's
own key file from the store must not lift the check.

Revocation by store time (design.md §6a): a put-only key that ``key remove`` took away still
holds its writer secret and the epoch's public key, so it can go on sealing objects a full key
opens. The config records when it was removed (``revoked_at``, the store's clock), and every
version 2 object of that writer whose store time (the store's own modification time, from a
listing or a HEAD: a put-only credential cannot set it on S3) is later than that plus
``REVOCATION_MARGIN`` is refused as forged (``RevokedWriterError``); earlier ones stay valid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from s3vault.backend.base import Backend
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    ObjectNotFoundError,
    RevokedWriterError,
)
from s3vault.format.configfile import ConfigFile
from s3vault.format.envelope import PUT_ENVELOPE_VERSION, EnvelopeHeader
from s3vault.format.indexfile import decode_raw
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository import keyring
from s3vault.repository.sealer import Sealer

# Seconds a removed key's object may be stored after the recorded removal time and still be
# accepted: the removal time is the store's clock read (a Date header, whole seconds) before
# the config is saved, and an S3 store's front ends agree on time within far less; a minute
# also covers a local directory's file system clock, read the same way.
REVOCATION_MARGIN = 60.0


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_store_time(
    config: ConfigFile, key_id: bytes, stored: Callable[[], float], what: str
) -> None:
    """Refuse an object put-only key ``key_id`` sealed if the config records that key as
    removed and the object's store time (``stored()``, asked only then) is later than the
    removal plus ``REVOCATION_MARGIN``. ``what`` names the object in the message.

    Raises:
        RevokedWriterError: stored after its writer's removal (forged).
        BackendError: ``stored()`` could not tell the store time.
    """
    since = config.revoked_at.get(key_id.hex())
    if since is None:
        return
    at = stored()
    if at <= since + REVOCATION_MARGIN:
        return
    host = config.revoked.get(key_id.hex(), "?")
    msg = (
        f"{what} stored {_when(at)} by put-only key {key_id.hex()[:8]} of host {host!r}, "
        f"which was removed {_when(since)}: forged (a removed key's objects stored after its "
        "removal are refused)"
    )
    raise RevokedWriterError(msg)


def check_revocation(
    sealer: Sealer, config: ConfigFile, sealed: bytes, stored: Callable[[], float], what: str
) -> None:
    """``check_store_time`` for a standalone object: nothing to check unless a put-only key
    sealed it (envelope version 2).

    Raises:
        RevokedWriterError: stored after its writer's removal (forged).
        BackendError: the store time could not be read.
    """
    if not config.revoked_at:
        return
    header = EnvelopeHeader.decode(sealed)
    if header.version != PUT_ENVELOPE_VERSION:
        return
    key_id, _ = sealer.put_key(header.epoch, header.sender)
    check_store_time(config, key_id, stored, what)


def writer_host(backend: Backend, sealer: Sealer, config: ConfigFile, key_id: bytes) -> str | None:
    """The host put-only key ``key_id`` writes for, from the key file of that id (a copy of
    another key file stored under its name is no answer); None if this repository cannot say."""
    try:
        keyfile = KeyFile.decode(backend.get(object_name(ObjectKind.KEYS, ObjectId(key_id))))
    except ObjectNotFoundError:
        return config.revoked.get(key_id.hex())
    except (IntegrityError, FormatVersionError):
        return None
    if keyfile.id != ObjectId(key_id):  # another key file copied over it: it lends no host
        return None
    if not keyfile.put_only or not keyring.check_key_mac(keyfile, sealer.current):
        return None
    return keyfile.host


def _writer(
    backend: Backend,
    sealer: Sealer,
    config: ConfigFile,
    hosts: dict[bytes, str | None],
    sealed: bytes,
) -> tuple[str, str | None] | None:
    """(short key id, host) of the put-only key that sealed ``sealed``; None if a full key
    sealed it (envelope version 1)."""
    header = EnvelopeHeader.decode(sealed)
    if header.version != PUT_ENVELOPE_VERSION:
        return None
    key_id, _ = sealer.put_key(header.epoch, header.sender)
    if key_id not in hosts:
        hosts[key_id] = writer_host(backend, sealer, config, key_id)
    return key_id.hex()[:8], hosts[key_id]


def _unknown(short: str) -> str:
    return (
        f"written by put-only key {short}, which this repository does not know (its key "
        "file is gone and no removal recorded it): forged, or its host cannot be checked"
    )


def check_snapshot_writer(
    backend: Backend,
    sealer: Sealer,
    config: ConfigFile,
    hosts: dict[bytes, str | None],
    sealed: bytes,
    plaintext: bytes,
) -> None:
    """Refuse a snapshot sealed by a put-only key of another host than the one it names.
    ``hosts`` caches each writer's host for the repository handle.

    Raises:
        IntegrityError: the snapshot names another host than its writer's, or its writer's
            host cannot be told (forged).
    """
    writer = _writer(backend, sealer, config, hosts, sealed)
    if writer is None:
        return
    short, host = writer
    try:
        claimed = SnapshotFile.decode(plaintext).hostname
    except (IntegrityError, FormatVersionError):
        return  # the reader's own decode names the damage
    if host is None:
        raise IntegrityError(_unknown(short))
    if host != claimed:
        msg = (
            f"a snapshot of host {claimed!r} written by put-only key {short} of host "
            f"{host!r}: forged (a put-only key writes snapshots for its own host only)"
        )
        raise IntegrityError(msg)


def check_audit_writer(
    backend: Backend,
    sealer: Sealer,
    config: ConfigFile,
    hosts: dict[bytes, str | None],
    sealed: bytes,
    *,
    hostname: str,
    tag_matches: Callable[[str], bool],
) -> None:
    """Refuse an audit record sealed by a put-only key into another host's chain (design.md
    §8b): the record must name its writer's host, and its chain's host tag must be that
    host's (``tag_matches(host)``). Without this a put-only host, which can seal records and
    sees every chain's end in a LIST, could append records to any host's chain.

    Raises:
        IntegrityError: the record is another host's, or its writer's host cannot be told.
    """
    writer = _writer(backend, sealer, config, hosts, sealed)
    if writer is None:
        return
    short, host = writer
    if host is None:
        raise IntegrityError(_unknown(short))
    if host != hostname or not tag_matches(host):
        msg = (
            f"written by put-only key {short} of host {host!r} into the chain of another host "
            "(or naming another host): forged (a put-only key writes its own host's records only)"
        )
        raise IntegrityError(msg)


def check_index_writer(sealer: Sealer, sealed: bytes, plaintext: bytes) -> None:
    """Refuse an index file sealed by a put-only key that does more than add the packs that
    key sealed: one that names index files it replaces (every reader would then ignore them,
    their packs would look unindexed, and prune would delete them), or one that describes a
    pack without that key's sender (a full key's pack or another writer's, whose blobs would
    then be opened with the wrong key or found at the wrong places). A put-only writer's
    index files never do either (repository/putrepo.py).

    Raises:
        IntegrityError: forged as above.
    """
    header = EnvelopeHeader.decode(sealed)
    if header.version != PUT_ENVELOPE_VERSION:
        return
    key_id, _ = sealer.put_key(header.epoch, header.sender)
    try:
        packs, supersedes = decode_raw(plaintext)
    except (IntegrityError, FormatVersionError):
        return  # the reader's own decode names the damage
    short = key_id.hex()[:8]
    if supersedes:
        msg = (
            f"an index file written by put-only key {short} replaces other index files: "
            "forged (a put-only key only adds packs)"
        )
        raise IntegrityError(msg)
    for pack in packs:
        if not pack.sender or sealer.put_key(pack.epoch, pack.sender)[0] != key_id:
            msg = (
                f"an index file written by put-only key {short} describes pack "
                f"{pack.id.short}, which that key did not seal: forged"
            )
            raise IntegrityError(msg)
