"""key add --put-only, and whether key files pin the repository (design.md §6 and §6a).

A put-only key file is made by a full key, for one host: a backup host holding it writes
backups and reads nothing. Every key file made since 2026-12-05 pins the repository's identity
inside its wrapped secret; ``pin_check`` names those that do not, and the fix.
"""

from __future__ import annotations

from dataclasses import replace

from s3vault.backend.location import BackendOptions
from s3vault.clock import Clock, SystemClock
from s3vault.cloud.check import OK, WARNING, Check
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ops.audit import audited
from s3vault.ops.keys import KeyEntry, key_entry, key_origin
from s3vault.progress import Progress
from s3vault.repository import keyring, putkeys
from s3vault.repository.lease import lease_class
from s3vault.repository.repository import Repository

UNPINNED_FIX = {
    "password": "s3vault key passwd (with a NEW password) for each",
    "recovery": "s3vault key add --recovery, then s3vault key remove the old one",
    "kms": "s3vault key add --kms-key-id ARN, then s3vault key remove the old one",
}


def pin_check(entries: list[KeyEntry]) -> Check:
    """doctor's item: every usable key file pins the repository's identity (design.md §13:
    an unpinned one can be given a substituted payload and config by whoever can write to
    the store). The fix writes a new key file, never the old one in place: a copy of the old
    file (a bucket version) would still open with the old secret, so the secret changes too."""
    unpinned = [e for e in entries if e.usable and e.pinned is False]
    if not unpinned:
        unknown = sum(e.usable and e.pinned is None for e in entries)
        detail = "every password and recovery key file pins the repository's identity"
        if unknown:
            detail += f" ({unknown} KMS key file(s): made before 2026-12-05 means not pinned)"
        return Check(item="key pinning", state=OK, detail=detail)
    kinds = sorted({e.kind for e in unpinned})
    return Check(
        item="key pinning",
        state=WARNING,
        detail=f"{len(unpinned)} key file(s) ({', '.join(e.id[:8] for e in unpinned)}) do not "
        "pin the repository's identity: whoever can write to the store could replace their "
        "payload and the config (design.md §13)",
        fix="; ".join(UNPINNED_FIX[k] for k in kinds),
    )


def _add_put_only_key(
    repo: Repository,
    secret: bytes | tuple[keyring.KeyWrapService | BackendOptions, str],
    *,
    host: str = "",
    label: str = "",
    kdf_cost: str = "default",
    clock: Clock | None = None,
) -> KeyEntry:
    """A new put-only key file for ``host`` (default: this machine's name), opened by a
    password or, given ``(kms, kms_key_id)``, by KMS (design.md §6a): a backup host holding it
    writes backups and reads nothing.

    Raises:
        UsageError: an empty password or KMS key id, or a host name that is empty or not
            printable.
        BackendError: KMS refused to encrypt (or to decrypt it back).
        IntegrityError: the stored key file does not open as written.
    """
    origin = key_origin(clock)
    host = host or origin["hostname"]
    if not host.isprintable() or host != host.strip():
        raise UsageError(f"--host {host!r}: a host name is printable, without spaces around it")
    payload = repo.sealer.payload()
    if isinstance(secret, bytes):
        if not secret:
            raise UsageError("an empty password is not allowed")
        keyfile = putkeys.wrap_put_only_key(
            repo_id=repo.id,
            payload=payload,
            password=secret,
            host=host,
            kdf_cost=kdf_cost,
            label=label,
            **origin,
        )
        repo.store_key_file(keyfile, lambda k: putkeys.unwrap_put_only(k, secret))
        return key_entry(repo, keyfile)
    kms, kms_key_id = secret
    if not kms_key_id:
        raise UsageError("--kms-key-id needs a KMS key ARN (or alias ARN)")
    if isinstance(kms, BackendOptions):
        from s3vault.cloud.kms import KmsService  # boto3 only when KMS is used

        kms = KmsService(kms)
    service = kms
    keyfile = keyring.wrap_put_only_key_kms(
        repo_id=repo.id,
        payload=payload,
        kms=service,
        kms_key_id=kms_key_id,
        host=host,
        label=label,
        **origin,
    )
    repo.store_key_file(keyfile, lambda k: keyring.unwrap_put_only_kms(k, service))
    return key_entry(repo, keyfile)


def switch_format(
    repo: Repository, *, clock: Clock | None = None, progress: Progress | None = None
) -> bool:
    """Switch the repository to format version 2 (design.md §14), which put-only keys need:
    the config then carries its view for them (§6a), every index file gets its endorsed dedup
    view (later ones get theirs when written), and releases that read only version 1 refuse
    the repository at its config. Under the maintenance lease, as a rotation. Returns
    False when the repository is at version 2 already.

    Raises:
        LeaseHeldError: a prune or a rotation holds the lease.
        UnsupportedOperationError: the store cannot overwrite conditionally (If-Match).
    """
    if repo.config.version >= PUT_ONLY_FORMAT:
        return False
    acquire = lease_class(repo).acquire
    with acquire(repo, "switch-format", None, clock=clock or SystemClock(), progress=progress):
        repo.save_config(replace(repo.config, version=PUT_ONLY_FORMAT))
        for oid in repo.list_files(ObjectKind.INDEX):  # every index file gets its view
            try:
                repo.endorse_index(oid)
            except (IntegrityError, ObjectNotFoundError, FormatVersionError) as exc:
                repo.skip(object_name(ObjectKind.INDEX, oid), f"no dedup view: {exc}")
    return True


def add_put_only_key(
    repo: Repository,
    secret: bytes | tuple[keyring.KeyWrapService | BackendOptions, str],
    *,
    host: str = "",
    label: str = "",
    kdf_cost: str = "default",
    clock: Clock | None = None,
    switch: bool = False,
) -> KeyEntry:
    """A new put-only key file for ``host`` (default: this machine's name), opened by a
    password or, given ``(kms, kms_key_id)``, by KMS (design.md §6a): a backup host holding it
    writes backups and reads nothing. Made with a full key (``repo``), which pins the
    repository's signing key in it.

    A repository of format version 1 is refused unless ``switch``, which switches it to
    version 2 first (``switch_format``): releases that read only version 1 then refuse it.

    Raises:
        UsageError: an empty password or KMS key id, a bad host name, or format version 1
            without ``switch``.
        BackendError: KMS refused to encrypt (or to decrypt it back).
        IntegrityError: the stored key file does not open as written.
        LeaseHeldError: switching, a prune or a rotation holds the lease.
    """
    with audited(repo, "key add") as note:
        if repo.config.version < PUT_ONLY_FORMAT and not switch:
            msg = (
                f"this repository is at format version {repo.config.version}; put-only keys "
                f"need version {PUT_ONLY_FORMAT}, which s3vault releases before it cannot open: "
                "when every host runs this release, add --switch-format (docs/upgrades.md)"
            )
            raise UsageError(msg)
        if switch_format(repo, clock=clock):
            note.details["format"] = PUT_ONLY_FORMAT
        entry = _add_put_only_key(
            repo, secret, host=host, label=label, kdf_cost=kdf_cost, clock=clock
        )
        note.details.update(
            key=entry.id, kind=entry.kind, label=entry.label, access=entry.access, host=entry.host
        )
    return entry
