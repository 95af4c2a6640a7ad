"""The audit log (design.md §8b): append a record to this host's hash chain; read every chain
and verify it.

A record's id is the keyed BLAKE3 hash of its plaintext (so re-encryption under a new key
epoch keeps every link) and its name is ``audit/<host tag>/<seq>-<id>``. Appending lists the
host's prefix to find the end of its chain, and takes the later of that and the end this host
remembers locally (the cache directory), so a tail deleted from the store leaves a gap that
verification reports. Appends on one host are serialised by a lock on that local state.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from blake3 import blake3

from s3vault.backend.base import ObjectInfo
from s3vault.crypto.hashing import blob_id
from s3vault.crypto.mac import hmac_sha256, same
from s3vault.errors import IntegrityError, S3VaultError
from s3vault.format.auditfile import AuditRecord
from s3vault.format.envelope import SealedKind
from s3vault.format.layout import ObjectKind
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.writerhost import check_audit_writer, check_revocation

log = logging.getLogger(__name__)

PREFIX = ObjectKind.AUDIT.value + "/"
STATE_FILE = "audit-chains.json"


def host_tag(repo: Repository, hostname: str) -> str:
    """The host's name in the store: a keyed hash, so the provider learns no host names."""
    key = repo.sealer.current.audit_key
    return hmac_sha256(key, hostname.encode())[:8].hex()


def _is_tag(repo: Repository, tag: str, hostname: str) -> bool:
    return host_tag(repo, hostname) == tag


def record_id(repo: Repository, record: AuditRecord) -> ObjectId:
    """The keyed hash of a record's plaintext: what the next record links to."""
    return blob_id(repo.sealer.current.id_key, record.encode())


@dataclass(frozen=True, slots=True)
class ChainEnd:
    """The last record of a host's chain."""

    seq: int
    id: ObjectId


def _parse(name: str) -> tuple[str, int, ObjectId] | None:
    parts = name.removeprefix(PREFIX).split("/")
    if not name.startswith(PREFIX) or len(parts) != 2:
        return None
    seq, _, hexid = parts[1].partition("-")
    try:
        return parts[0], int(seq), ObjectId.from_hex(hexid)
    except ValueError:
        return None


def _name(tag: str, seq: int, rid: ObjectId) -> str:
    return f"{PREFIX}{tag}/{seq:010d}-{rid.hex()}"


def canonical_location(location: str) -> str:
    """One spelling of a repository's location for the chain ends kept by location: a
    directory's real path (links and ``..`` resolved), an endpoint's URL in lower case
    without its trailing slashes."""
    if location.startswith("/"):
        return os.path.realpath(location)
    where, sep, endpoint = location.partition(" at ")
    return where + sep + endpoint.rstrip("/").lower()


class LocalChains:
    """The chain ends this host has written, per repository and location (in the cache
    directory). With ``key`` (the repository's audit key) the file carries a keyed MAC of the
    ends: a file damaged on the host's disk (a changed digit would make the next record skip
    numbers, a gap that reads as deleted records for good) is said and ignored, as if there
    were none.

    ``location``: where the repository is (``Backend.location``). A byte copy of a
    repository (a replica, a DR copy) has its id: records this host wrote into the copy are
    not in the original, and ends kept by id alone read as records deleted from the original
    (an attack pass, 2026-12-07). The ends of a location (``canonical_location``) are kept in
    a file of their own; the file by id alone keeps the furthest ends this host wrote at any
    location, and is what a location without a file of its own yet is checked against (the
    store under a name this host has not used: its deleted tail is still found)."""

    def __init__(
        self, directory: Path | None, key: bytes | None = None, location: str | None = None
    ) -> None:
        self._global = directory / STATE_FILE if directory else None
        self._path = self._global
        if directory is not None and location is not None:
            where = blake3(canonical_location(location).encode("utf-8", "surrogateescape"))
            self._path = directory / f"audit-chains-{where.hexdigest()[:16]}.json"
        self._key = key

    def _mac(self, ends: dict[str, Any]) -> str:
        assert self._key is not None
        text = json.dumps(ends, sort_keys=True, separators=(",", ":")).encode()
        return hmac_sha256(self._key, b"s3vault audit chain ends\0" + text).hex()

    def read(self) -> dict[str, ChainEnd]:
        """Every remembered chain end of this location (none without a cache directory, or
        when the file does not check: a file from before the MAC is taken as it is); where
        the location has none yet, the furthest this host wrote anywhere."""
        if self._path is None:
            return {}
        path = self._path
        if not path.exists() and self._global is not None:
            path = self._global
        return self._read(path)

    def read_anywhere(self) -> dict[str, ChainEnd]:
        """The furthest chain ends this host wrote at any location of the repository."""
        return self._read(self._global) if self._global is not None else {}

    def _read(self, path: Path) -> dict[str, ChainEnd]:
        try:
            raw = json.loads(path.read_text())
            if "ends" in raw and "mac" in raw:
                raw, mac = raw["ends"], raw["mac"]
                if self._key is not None and not same(str(mac).encode(), self._mac(raw).encode()):
                    log.warning("%s does not check (damaged on this host): ignored", path)
                    return {}
            return {t: ChainEnd(int(e["seq"]), ObjectId.from_hex(e["id"])) for t, e in raw.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def write(self, ends: dict[str, ChainEnd]) -> None:
        """Remember this location's chain ends, and the furthest anywhere (best effort: the
        store's chain is the record)."""
        if self._path is None or self._global is None:
            return
        self._write(self._path, ends)
        if self._path != self._global:
            furthest = self.read_anywhere()
            for tag, end in ends.items():
                if tag not in furthest or furthest[tag].seq < end.seq:
                    furthest[tag] = end
            self._write(self._global, furthest)

    def _write(self, path: Path, ends: dict[str, ChainEnd]) -> None:
        data: dict[str, Any] = {t: {"seq": e.seq, "id": e.id.hex()} for t, e in ends.items()}
        if self._key is not None:
            data = {"ends": data, "mac": self._mac(data)}
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
        except OSError:
            pass

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise appends of this host (several s3vault runs at once)."""
        if self._global is None:
            yield
            return
        try:  # one lock per repository, whatever the location
            self._global.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._global.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def chain_end(repo: Repository, tag: str) -> ChainEnd | None:
    """The end of a host's chain as stored (one LIST of its prefix)."""
    best: ChainEnd | None = None
    for info in repo.backend.list(f"{PREFIX}{tag}/"):
        parsed = _parse(info.name)
        if parsed is not None and (best is None or (parsed[1], parsed[2]) > (best.seq, best.id)):
            best = ChainEnd(parsed[1], parsed[2])  # two of one seq (appended at once): either
    return best


def host_records(repo: Repository, hostname: str) -> list[ObjectInfo]:
    """The stored records of one host's chain, as one LIST of its prefix lists them."""
    return list(repo.backend.list(f"{PREFIX}{host_tag(repo, hostname)}/"))


def append(repo: Repository, record: AuditRecord, local: LocalChains) -> tuple[str, AuditRecord]:
    """Add a record (its ``seq`` and ``prev`` are filled in) to the end of its host's chain.

    Raises:
        BackendError: the store refused.
    """
    tag = host_tag(repo, record.hostname)
    with local.locked():
        ends = local.read()
        stored = chain_end(repo, tag)
        mine = ends.get(tag)
        end = max((e for e in (stored, mine) if e is not None), key=lambda e: e.seq, default=None)
        full = replace(record, seq=end.seq + 1 if end else 1, prev=end.id if end else None)
        rid = record_id(repo, full)
        name = _name(tag, full.seq, rid)
        repo.backend.put(name, repo.sealer.seal_file(SealedKind.AUDIT, full.encode()))
        ends[tag] = ChainEnd(full.seq, rid)
        local.write(ends)
    return name, full


@dataclass(slots=True)
class Chain:
    """One host's records, in order, and what is wrong with the chain."""

    tag: str
    records: list[AuditRecord] = field(default_factory=list)
    stored: set[tuple[int, ObjectId]] = field(default_factory=set)  # (seq, id) of each record
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not a break

    @property
    def hostname(self) -> str:
        """The host (from its records)."""
        return self.records[-1].hostname if self.records else "?"


Found = tuple[int, ObjectId, AuditRecord | None, str]  # seq, id, record, problem


def _read_all(repo: Repository) -> dict[str, list[Found]]:
    """Every stored record by host tag, each opened and checked against its name (and, when a
    put-only key sealed it, against its writer's host: repository/writerhost.py)."""
    found: dict[str, list[Found]] = {}
    writers: dict[bytes, str | None] = {}  # put-only key -> its host
    for info in sorted(repo.backend.list(PREFIX), key=lambda i: i.name):
        parsed = _parse(info.name)
        if parsed is None:
            continue
        tag, seq, rid = parsed
        try:
            sealed = repo.backend.get(info.name)
            record = AuditRecord.decode(repo.sealer.open_file(SealedKind.AUDIT, sealed))
            if record_id(repo, record) != rid or record.seq != seq:
                raise IntegrityError("content does not match its name (rewritten or moved)")
            check_revocation(
                repo.sealer, repo.config, sealed, partial(float, info.modified), "an audit record"
            )
            check_audit_writer(
                repo.backend,
                repo.sealer,
                repo.config,
                writers,
                sealed,
                hostname=record.hostname,
                tag_matches=partial(_is_tag, repo, tag),
            )
            found.setdefault(tag, []).append((seq, rid, record, ""))
        except S3VaultError as exc:
            found.setdefault(tag, []).append((seq, rid, None, str(exc)))
    return found


def _verify(chain: Chain, items: list[Found]) -> None:
    """seq runs 1, 2, 3... without gaps and each record links to one of the records before.
    Two records of one seq that both open and both link to the record before are two runs
    of the host that appended at once (each saw the same end: two users, two cache
    directories, --no-cache; only a key holder can seal a record): a note, not a break."""
    items.sort(key=lambda item: (item[0], item[1]))
    expected = 1
    group: set[ObjectId | None] = {None}  # the ids of seq expected - 1 (none before seq 1)
    before: set[ObjectId | None] = set()  # the ids of seq expected - 2
    for seq, rid, record, problem in items:
        chain.stored.add((seq, rid))
        if problem:
            chain.problems.append(f"record {seq}: {problem}")
        if seq == expected - 1:  # one more record of the seq just read
            if record is None or record.prev not in before:
                chain.problems.append(f"two records numbered {seq} (a fork)")
            else:
                chain.notes.append(f"record {seq} was appended by two runs at once")
            group.add(rid)
        else:
            if seq > expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
                chain.problems.append(f"record(s) {missing} missing (deleted)")
            elif record is not None and record.prev not in group:
                chain.problems.append(f"record {seq} does not link to record {seq - 1}")
            before, group, expected = group, {rid}, seq + 1
        if record is not None:
            chain.records.append(record)


def read_chains(repo: Repository, local: LocalChains | None = None) -> list[Chain]:
    """Every host's chain, verified: names match contents, seq runs 1, 2, 3... without gaps or
    forks, each record links to the one before, and no chain ends before what this host
    remembers writing."""
    chains: dict[str, Chain] = {}
    for tag, items in _read_all(repo).items():
        _verify(chains.setdefault(tag, Chain(tag)), items)
    for tag, end in (local.read() if local else {}).items():
        chain = chains.setdefault(tag, Chain(tag))
        have = max((seq for seq, _ in chain.stored), default=0)
        if have < end.seq:
            chain.problems.append(
                f"this host wrote record {end.seq}, the store's chain ends at {have} "
                "(records deleted from its end)"
            )
        elif (end.seq, end.id) not in chain.stored:
            chain.problems.append(
                f"record {end.seq} is not the one this host wrote there (deleted and "
                "written again, or rewritten)"
            )
    for tag, end in (local.read_anywhere() if local else {}).items():
        chain = chains.setdefault(tag, Chain(tag))
        have = max((seq for seq, _ in chain.stored), default=0)
        if have < end.seq and not chain.problems:
            chain.notes.append(
                f"this host wrote record {end.seq} of this chain at another location of the "
                f"repository (a copy, or this store under another name); here it ends at {have}"
            )
    return sorted(chains.values(), key=lambda c: c.hostname)
