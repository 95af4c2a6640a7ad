"""key list / add / passwd / remove / rotate-master / sync: the key files of a repository.

Every key file holds the same master keys, sealed to its own key pair, whose private key a
password, a recovery secret or KMS opens (design.md §6). A new key file is read back and opened
before the command reports success. The last key file that opens the repository can never be
removed; the key file this process opened the repository with only with ``force``. Master-key
rotation starts a new key epoch for every key file at once; ``prune --reencrypt`` moves the
data over and retires the old epoch.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from s3vault.backend.location import BackendOptions
from s3vault.clock import Clock, SystemClock
from s3vault.cloud.check import OK, WARNING, Check
from s3vault.crypto import recovery
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, S3VaultError, UsageError, restated
from s3vault.format import codec
from s3vault.format.codec import unshown
from s3vault.format.configfile import KeyEpoch
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ops.audit import audited
from s3vault.ops.whoami import user_name
from s3vault.progress import Progress
from s3vault.repository import keyring
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository

MAX_EPOCH = 65535  # two bytes in every envelope header
DAY = 86400
KEY_ROTATION = 365 * DAY  # doctor's default rotation period (AWS KMS rotates yearly)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEntry:
    """One key file, as ``key list`` shows it."""

    id: str
    kind: str
    label: str
    hostname: str
    username: str
    created: str
    kms_key_id: str  # kind kms: the KMS key that opens it
    current: bool  # the key file this process opened the repository with
    usable: bool  # authentic under the repository's master key (a password can open it)
    problem: str = ""  # why it is not usable
    pinned: bool | None = None  # pins the repository's identity (None: a KMS key file, unknown)
    access: str = "full"  # or "put-only" (design.md §6a)
    host: str = ""  # put-only: the host it writes for


def _read_all(repo: Repository) -> list[tuple[KeyFile | None, str, str]]:
    """(key file or None, object name, problem) for every object under keys/."""
    found: list[tuple[KeyFile | None, str, str]] = []
    for info in sorted(repo.list_objects(ObjectKind.KEYS), key=lambda i: i.name):
        try:
            keyfile = KeyFile.decode(repo.read_listed(info))
        except S3VaultError as exc:
            found.append((None, info.name, str(exc)))
            continue
        if keyfile.repo_id != repo.id:
            found.append((keyfile, info.name, "belongs to another repository"))
        elif not keyring.check_key_mac(keyfile, repo.sealer.current):
            found.append((keyfile, info.name, "its MAC does not match: damaged or foreign"))
        else:
            found.append((keyfile, info.name, ""))
    return found


def key_origin(clock: Clock | None) -> dict[str, str]:
    """Where and when a key file is made (informational fields of the key file)."""
    return {
        "hostname": socket.gethostname(),
        "username": user_name(),
        "created": (clock or SystemClock()).now().isoformat(timespec="seconds"),
    }


def key_entry(repo: Repository, keyfile: KeyFile, problem: str = "") -> KeyEntry:
    return KeyEntry(
        id=keyfile.id.hex(),
        kind=keyfile.kind,
        label=keyfile.label,
        hostname=keyfile.hostname,
        username=keyfile.username,
        created=keyfile.created,
        kms_key_id=keyfile.kms_key_id,
        current=keyfile.id == repo.key_id,
        usable=not problem,
        problem=problem,
        pinned=keyring.pin_state(keyfile),
        access=keyfile.access,
        host=keyfile.host,
    )


def _opens(entry: KeyEntry) -> bool:
    """Does this key file open the repository for reading (a usable full key)?"""
    return entry.usable and entry.access == "full"


def list_keys(repo: Repository) -> list[KeyEntry]:
    """Every key file, oldest first, marked current / usable."""
    entries = []
    for keyfile, name, problem in _read_all(repo):
        if keyfile is None:
            entries.append(
                KeyEntry(
                    id=name.rsplit("/", 1)[-1],
                    kind="unreadable",
                    label="",
                    hostname="",
                    username="",
                    created="",
                    kms_key_id="",
                    current=False,
                    usable=False,
                    problem=problem,
                )
            )
            continue
        entries.append(key_entry(repo, keyfile, problem))
    return sorted(entries, key=lambda e: (e.created, e.id))


def _add_key(
    repo: Repository,
    password: bytes,
    *,
    label: str = "",
    kdf_cost: str = "default",
    clock: Clock | None = None,
    kind: str = "password",
) -> KeyEntry:
    """A new key file that opens the repository with ``password``.

    Raises:
        UsageError: an empty password, or a label that is not UTF-8 text.
        IntegrityError: the stored key file does not open as written (nothing is reported
            as added).
    """
    if not password:
        raise UsageError("an empty password is not allowed")
    codec.require_text("--label", label)
    keyfile = keyring.wrap_key(
        repo_id=repo.id,
        payload=repo.sealer.payload(),
        password=password,
        kdf_cost=kdf_cost,
        label=label,
        kind=kind,
        **key_origin(clock),
    )
    repo.store_key_file(keyfile, lambda k: keyring.unwrap_key(k, password))
    return key_entry(repo, keyfile)


def store_recovery_key(repo: Repository, *, clock: Clock | None = None) -> tuple[KeyEntry, str]:
    """A key file that a new recovery secret opens; returns it and the secret's text form
    (shown once: s3vault keeps no copy). The secret has 256 random bits, so the cheapest KDF
    cost loses nothing. Not audited: for init, whose record covers it
    (``add_recovery_key`` is the audited operation)."""
    secret = recovery.new_secret()
    entry = _add_key(
        repo, secret, label="recovery", kdf_cost="minimum", clock=clock, kind="recovery"
    )
    return entry, recovery.encode(secret)


def _change_password(
    repo: Repository,
    password: bytes,
    *,
    kdf_cost: str = "default",
    clock: Clock | None = None,
) -> KeyEntry:
    """Replace the key file in use by one with a new password (added and checked first, then
    the old one removed)."""
    old = next((e for e in list_keys(repo) if e.current), None)
    if old is not None and old.kind == "recovery":
        old = None  # opened with the recovery key: add a password, keep the recovery key
    added = _add_key(repo, password, label=old.label if old else "", kdf_cost=kdf_cost, clock=clock)
    if old is not None:
        try:
            repo.delete_object(ObjectKind.KEYS, old.id)
        except S3VaultError as exc:  # a store that refuses deletes: say what was done
            msg = (
                f"key passwd: the new key file {added.id[:8]} is stored and opens the "
                f"repository, but the old one {old.id[:8]} was not removed: {exc}; the old "
                f"password opens it too until `s3vault key remove {old.id[:8]}` runs, with the "
                "new password and a credential that may delete"
            )
            raise restated(exc, msg) from exc
    return added


def _named(entries: list[KeyEntry], key: str) -> tuple[list[KeyEntry], list[KeyEntry]]:
    """The key files ``key`` names by id and, apart from those, by label. A whole id (a file's
    name, as listed) names its file alone, whatever labels say. Ids match in any case (a
    stray file in keys/, README.txt, is listed by its own name) only where nothing matches
    as given: a label in capitals and another key's id in lower case are two keys."""
    if not key:
        return [], []
    shown = unshown(key, name=True)  # a name as verify and key list show it (``\xff``)
    if shown != key and not any(e.id.startswith(key) or e.label == key for e in entries):
        key = shown
    exact = [e for e in entries if e.id == key]
    if exact:
        return exact, []
    by_id = [e for e in entries if e.id.startswith(key)]
    if not by_id:
        by_id = [e for e in entries if e.id.lower().startswith(key.lower())]
    by_label = [e for e in entries if e.label == key and e not in by_id]
    return by_id, by_label


def _remove_key(repo: Repository, key: str, *, force: bool = False) -> KeyEntry:
    """Remove a key file by id (or a unique prefix of it), or by its label. A name that is
    one key's label and the start of another's id is refused, not resolved: removing the
    wrong key (the recovery key, say) while the one meant stays is the worst outcome here.

    Raises:
        UsageError: no such key, an ambiguous prefix or name, the last usable key file, or
            the one in use without ``force``.
    """
    entries = list_keys(repo)
    by_id, by_label = _named(entries, key)
    if by_id and by_label:  # "37", a label, and the start of another key's id: never guess
        named = ", ".join(
            f"{e.id[:8]} ({'id' if e in by_id else 'label'})" for e in by_id + by_label
        )
        msg = (
            f"{key!r} is the label of one key file and the start of another's id ({named}): "
            "give more of the id (see `s3vault key list`)"
        )
        raise UsageError(msg)
    matches = by_id or by_label
    if not matches:
        raise UsageError(f"no key file {key!r} in this repository (see `s3vault key list`)")
    if len(matches) > 1:
        raise UsageError(f"{key!r} matches {len(matches)} key files: give (more of) the id")
    (entry,) = matches
    if entry.usable and entry.access == "full" and sum(_opens(e) for e in entries) == 1:
        msg = (
            f"key {entry.id[:8]} is the last key file that opens this repository: removing it "
            "would make every snapshot unreadable (add another with `s3vault key add` first)"
        )
        raise UsageError(msg)
    if entry.current and not force:
        msg = f"key {entry.id[:8]} is the one this command opened the repository with: use --force"
        raise UsageError(msg)
    if entry.access != "full":
        _record_revoked(repo, entry)
    name = object_name(ObjectKind.KEYS, entry.id)
    repo.delete_object(ObjectKind.KEYS, entry.id)
    try:
        repo.stat_object(ObjectKind.KEYS, entry.id)
    except S3VaultError:
        return entry
    raise IntegrityError(f"key file {name} is still there after its removal")


def _record_revoked(repo: Repository, entry: KeyEntry) -> None:
    """Before a put-only key file goes: the config records its id, host and the store's time
    (the caller holds the maintenance lease: ``remove_key``), so the snapshots it wrote keep
    their host binding check, its key id can never write as another host, and what it stores
    from now on is refused (design.md §6a, revocation by store time). The time is the store's
    clock read before the config is saved: an object the key stores later has a later store
    time. A key removed again (its file put back) keeps its first time. The config is read
    again from the store: another `key remove` may have revoked a key since this command
    opened the repository, and saving from the config it opened with would undo that."""
    config = repo.stored_config()
    now = repo.server_time()
    repo.save_config(
        replace(
            config,
            revoked={**config.revoked, entry.id: entry.host},
            revoked_at={entry.id: now, **config.revoked_at},
        )
    )


def _add_kms_key(
    repo: Repository,
    kms: keyring.KeyWrapService | BackendOptions,
    kms_key_id: str,
    *,
    label: str = "",
    clock: Clock | None = None,
) -> KeyEntry:
    """A key file whose private key ``kms_key_id`` encrypts: any host allowed to decrypt with
    that KMS key opens the repository without a password (escrow, or password-less hosts).
    ``kms`` is the key-wrapping service, or the options to reach AWS KMS with (the
    repository's credentials, role and region: cloud/kms.py).

    Raises:
        BackendError: KMS refused to encrypt (or to decrypt it back).
        IntegrityError: the stored key file does not open as written.
    """
    if not kms_key_id:
        raise UsageError("--kms-key-id needs a KMS key ARN (or alias ARN)")
    if isinstance(kms, BackendOptions):
        from s3vault.cloud.kms import KmsService  # boto3 only when KMS is used

        kms = KmsService(kms)
    keyfile = keyring.wrap_key_kms(
        repo_id=repo.id,
        payload=repo.sealer.payload(),
        kms=kms,
        kms_key_id=kms_key_id,
        label=label,
        **key_origin(clock),
    )
    repo.store_key_file(keyfile, lambda k: keyring.unwrap_kms(k, kms))
    return key_entry(repo, keyfile)


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochEntry:
    """One live key epoch, as ``key list`` shows it."""

    epoch: int
    current: bool
    started: float  # seconds since the epoch (store clock); 0 for the first
    packs: int  # indexed packs sealed under it
    bytes: int


def list_epochs(repo: Repository) -> list[EpochEntry]:
    """The live key epochs and how much of the stored data each still covers (needs the
    index loaded)."""
    packs: dict[int, list[int]] = {e.epoch: [0, 0] for e in repo.config.epochs}
    for _pack, size, epoch in repo.index.pack_epochs():
        count = packs.setdefault(epoch, [0, 0])
        count[0] += 1
        count[1] += size
    started = {e.epoch: e.started for e in repo.config.epochs}
    return [
        EpochEntry(
            epoch=epoch,
            current=epoch == repo.config.current_epoch,
            started=started.get(epoch, 0.0),
            packs=n,
            bytes=size,
        )
        for epoch, (n, size) in sorted(packs.items())
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateResult:
    """What key rotate-master did."""

    epoch: int  # the new current epoch (not rotated: the current one)
    previous: int
    key_files: int  # key files that now hold it
    skipped: tuple[tuple[str, str], ...]  # key files left alone (damaged, foreign) and why
    rotated: bool = True  # False: --if-older-than found the current epoch young enough
    age: float | None = None  # seconds the previous epoch had been current (None: unknown)


def master_key_age(repo: Repository) -> float | None:
    """Seconds since the current key epoch began, by the store's clock: its start, or for
    the first epoch the repository's creation (None when neither is recorded)."""
    config = repo.config
    started = next((e.started for e in config.epochs if e.epoch == config.current_epoch), 0.0)
    if not started and config.created:
        try:
            created = datetime.fromisoformat(config.created)
        except ValueError:
            return None
        started = (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
    return max(0.0, repo.server_time() - started) if started else None


def key_age_check(repo: Repository, rotation: float) -> Check:
    """doctor's item: the current master key is younger than the rotation period."""
    age = master_key_age(repo)
    period = f"{rotation / DAY:g}d"
    epoch = repo.config.current_epoch
    if age is None:
        return Check(item="key age", state=OK, detail=f"epoch {epoch}: its start is not recorded")
    days = f"{age / DAY:.0f} days"
    if age <= rotation:
        return Check(
            item="key age", state=OK, detail=f"epoch {epoch} is {days} old (period {period})"
        )
    return Check(
        item="key age",
        state=WARNING,
        detail=f"the master key (epoch {epoch}) is {days} old, older than the rotation "
        f"period {period}",
        fix=f"s3vault key rotate-master (on a timer: key rotate-master --if-older-than {period})",
    )


def _rotate_master(
    repo: Repository,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RotateResult:
    """Start a new key epoch: a fresh master key in every key file, then the config says
    new objects use it. Under the maintenance lease (no prune or second rotation beside).

    Raises:
        LeaseHeldError: a prune or another rotation holds the lease.
        UnsupportedOperationError: the store cannot overwrite conditionally (If-Match).
        UsageError: the epoch counter is exhausted.
    """
    clock = clock or SystemClock()
    acquire = lease_class(repo).acquire
    with acquire(repo, "rotate-master", lease, clock=clock, progress=progress) as held:
        # another rotation since this one opened the repository would see its epoch number
        # taken again, under another master key
        _refuse_changed_keys(repo, "key rotate-master")
        config = repo.config
        epoch = max(e.epoch for e in config.epochs) + 1
        if epoch > MAX_EPOCH:
            raise UsageError(f"no key epoch left after {MAX_EPOCH}")
        identity = repo.sealer.current.identity
        master = MasterKey.generate(repo.id, epoch, identity)
        payload = repo.sealer.payload()
        payload = KeyPayload(
            identity=identity, master_keys={**payload.master_keys, epoch: master.secret}
        )
        skipped: list[tuple[str, str]] = []
        count = repo.reseal_key_files(payload, on_skip=lambda n, why: skipped.append((n, why)))
        held.ensure_fresh()
        started = repo.server_time()
        fresh = KeyEpoch(epoch=epoch, check=master.check_value, started=started)
        repo.save_config(
            replace(config, current_epoch=epoch, epochs=(*config.epochs, fresh)),
            new_keys={epoch: master},
        )
    return RotateResult(
        epoch=epoch, previous=config.current_epoch, key_files=count, skipped=tuple(skipped)
    )


def _sync_keys(repo: Repository) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Give every key file exactly the live epochs of the config (finishes a rotation or an
    epoch retirement that was interrupted). Returns (key files re-sealed, skipped and why)."""
    skipped: list[tuple[str, str]] = []
    count = repo.reseal_key_files(
        repo.sealer.payload(), on_skip=lambda n, why: skipped.append((n, why))
    )
    return count, tuple(skipped)


# The operations: each audited (ops/audit.py), with what it did in its record.


@contextmanager
def _keys_held(repo: Repository, operation: str) -> Iterator[None]:
    """The maintenance lease around a change of key files, and the config's key epochs as
    this command opened them: a rotation beside `key passwd` or `key add` made a key file
    from the old master keys only (the repository then opened with none), two `key remove`
    at once each saw the other's key left and removed both.

    Raises:
        LeaseHeldError: a prune, a rotation or another key change holds the lease.
        S3VaultError: the master keys changed since this command opened the repository.
    """
    with lease_class(repo).acquire(repo, operation, None, clock=SystemClock()):
        _refuse_changed_keys(repo, operation)
        yield


def _refuse_changed_keys(repo: Repository, operation: str) -> None:
    """Under the lease: refuse when the stored config's key epochs are not those this command
    opened the repository with (a rotation ran since).

    Raises:
        S3VaultError: they changed; nothing was changed.
    """
    if repo.keys_changed():
        msg = (
            f"{operation}: the repository's master keys changed since this command opened "
            "it (a `key rotate-master` ran beside it): nothing was changed; run it again"
        )
        raise S3VaultError(msg)


def add_key(
    repo: Repository,
    password: bytes,
    *,
    label: str = "",
    kdf_cost: str = "default",
    clock: Clock | None = None,
    kind: str = "password",
) -> KeyEntry:
    """A new key file that opens the repository with ``password`` (under the maintenance
    lease, ``_keys_held``).

    Raises:
        UsageError: an empty password.
        IntegrityError: the stored key file does not open as written (nothing is reported
            as added).
        LeaseHeldError: a prune, a rotation or another key change holds the lease.
    """
    with audited(repo, "key add") as note, _keys_held(repo, "key add"):
        entry = _add_key(repo, password, label=label, kdf_cost=kdf_cost, clock=clock, kind=kind)
        note.details.update(key=entry.id, kind=entry.kind, label=entry.label)
    return entry


def add_recovery_key(repo: Repository, *, clock: Clock | None = None) -> tuple[KeyEntry, str]:
    """A key file that a new recovery secret opens; returns it and the secret's text form
    (shown once: s3vault keeps no copy). The secret has 256 random bits, so the cheapest KDF
    cost loses nothing."""
    with audited(repo, "key add") as note, _keys_held(repo, "key add"):
        entry, text = store_recovery_key(repo, clock=clock)
        note.details.update(key=entry.id, kind=entry.kind, label=entry.label)
    return entry, text


def add_kms_key(
    repo: Repository,
    kms: keyring.KeyWrapService | BackendOptions,
    kms_key_id: str,
    *,
    label: str = "",
    clock: Clock | None = None,
) -> KeyEntry:
    """A key file whose private key ``kms_key_id`` encrypts: any host allowed to decrypt with
    that KMS key opens the repository without a password (escrow, or password-less hosts).
    ``kms`` is the key-wrapping service, or the options to reach AWS KMS with (the
    repository's credentials, role and region: cloud/kms.py).

    Raises:
        UsageError: no KMS key id.
        BackendError: KMS refused to encrypt (or to decrypt it back).
        IntegrityError: the stored key file does not open as written.
    """
    with audited(repo, "key add") as note, _keys_held(repo, "key add"):
        entry = _add_kms_key(repo, kms, kms_key_id, label=label, clock=clock)
        note.details.update(key=entry.id, kind=entry.kind, label=entry.label)
    return entry


def change_password(
    repo: Repository,
    password: bytes,
    *,
    kdf_cost: str = "default",
    clock: Clock | None = None,
) -> KeyEntry:
    """Replace the key file in use by one with a new password (added and checked first, then
    the old one removed)."""
    with (
        audited(repo, "key passwd", replaced=repo.key_id.hex()) as note,
        _keys_held(repo, "key passwd"),
    ):
        entry = _change_password(repo, password, kdf_cost=kdf_cost, clock=clock)
        note.details["key"] = entry.id
    return entry


def remove_key(repo: Repository, key: str, *, force: bool = False) -> KeyEntry:
    """Remove a key file by id (or a unique prefix of it), or by its label. A name that is
    one key's label and the start of another's id is refused, not resolved: removing the
    wrong key (the recovery key, say) while the one meant stays is the worst outcome here.

    Raises:
        UsageError: no such key, an ambiguous prefix or name, the last usable key file, or
            the one in use without ``force``.
    """
    with audited(repo, "key remove") as note, _keys_held(repo, "key remove"):
        entry = _remove_key(repo, key, force=force)
        note.details.update(key=entry.id, kind=entry.kind, label=entry.label)
    return entry


def rotate_master(
    repo: Repository,
    *,
    if_older_than: float | None = None,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RotateResult:
    """Start a new key epoch: a fresh master key in every key file, then the config says
    new objects use it. Under the maintenance lease (no prune or second rotation beside;
    ``progress`` hears while it waits for one). With ``if_older_than`` (seconds) only when
    the current epoch is older (by the store's clock; an epoch whose start is unknown is
    due): else nothing is done or audited and the result says ``rotated=False``.

    Raises:
        LeaseHeldError: a prune or another rotation holds the lease.
        UnsupportedOperationError: the store cannot overwrite conditionally (If-Match).
        UsageError: the epoch counter is exhausted.
    """
    age = master_key_age(repo) if if_older_than is not None else None
    if if_older_than is not None and age is not None and age <= if_older_than:
        current = repo.config.current_epoch
        return RotateResult(
            epoch=current, previous=current, key_files=0, skipped=(), rotated=False, age=age
        )
    with audited(repo, "key rotate-master") as note:
        result = _rotate_master(repo, lease=lease, clock=clock, progress=progress)
        note.details.update(epoch=result.epoch, key_files=result.key_files)
    return replace(result, age=age)


def sync_keys(repo: Repository) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Give every key file exactly the live epochs of the config (finishes a rotation or an
    epoch retirement that was interrupted). Returns (key files re-sealed, skipped and why)."""
    with audited(repo, "key sync") as note:
        count, skipped = _sync_keys(repo)
        note.details["key_files"] = count
    return count, skipped
