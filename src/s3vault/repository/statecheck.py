"""The put-only hosts' states as a full key sees them (design.md §6a, "The host's own state"):
which put-only key a state is of, each key's newest state (what prune keeps), and the objects
under ``state/`` that are no state (what verify names).

A state ``state/<host tag>/<seq>-<id>`` is a key's when it opens with that key's writer secret
(a full key derives every writer's, ``MasterKey.writer_secret``) at its place ``<tag>/<seq>``.
The keys tried under a tag are the put-only key files listed whose host the tag names (the
tag is the keyed hash of the host name, repository/audit.py ``host_tag``): a state another
host sealed for this tag (a put-only host may PUT under any tag it sees in a listing) opens
with none of them and is garbage, never any key's newest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from s3vault.backend.base import ObjectInfo
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind
from s3vault.repository import hoststate, keyring
from s3vault.repository.audit import host_tag
from s3vault.repository.putstate import state_seq
from s3vault.repository.repository import Repository

STATES = ObjectKind.STATE.value + "/"

NOT_A_NAME = (
    "not a host state's name (a seq of 1 to 10 digits, '-' and the id): put there by someone "
    "who can write to the store; hosts pass over it, prune deletes it after its grace period"
)
GARBAGE = (
    "opens with no put-only key of the host its tag names: garbage (another put-only host or "
    "a store-level attacker put it there) or damaged; hosts pass over it, it is never counted "
    "as a host's newest state, prune deletes it after its grace period"
)
REMOVED = "a state of a removed put-only key; prune deletes it after its grace period"
UNBOUND = f"{hoststate.UNBOUND}; prune deletes it after its grace period"


def writer_keys(repo: Repository, *, removed: bool = False) -> dict[str, list[bytes]]:
    """The put-only key files listed, by the host tag of their host: tag → key ids (with
    ``removed``, also the removed keys the config records, after the listed ones). A key
    file that does not parse, is of another repository or whose MAC is not this repository's
    lends no key."""
    key = repo.sealer.current
    out: dict[str, list[bytes]] = {}
    for info in repo.list_objects(ObjectKind.KEYS):
        try:
            keyfile = KeyFile.decode(repo.read_listed(info))
        except (ObjectNotFoundError, IntegrityError, FormatVersionError):
            continue
        if not keyfile.put_only or keyfile.repo_id != repo.id:
            continue
        if keyring.check_key_mac(keyfile, key):
            out.setdefault(host_tag(repo, keyfile.host), []).append(bytes(keyfile.id))
    if removed:
        for key_id, host in sorted(repo.config.revoked.items()):
            try:
                out.setdefault(host_tag(repo, host), []).append(bytes.fromhex(key_id))
            except ValueError:
                continue
    return out


def by_tag(infos: list[ObjectInfo]) -> dict[str, list[ObjectInfo]]:
    """Listed objects under ``state/``, by the host tag in their names."""
    hosts: dict[str, list[ObjectInfo]] = {}
    for info in infos:
        hosts.setdefault(info.name[len(STATES) :].partition("/")[0], []).append(info)
    return hosts


def newest_states(
    repo: Repository, tag: str, infos: list[ObjectInfo], keys: list[bytes]
) -> list[tuple[str, bytes]]:
    """The newest state of each key in ``keys`` among ``infos`` (the names under ``tag``):
    (name, key id) pairs. GETs from the highest seq down, until each key has one (normally
    one GET per key; one more per garbage object above its newest)."""
    return [(name, key_id) for name, _, key_id, _ in _walk(repo, tag, infos, keys) if key_id]


def _walk(
    repo: Repository, tag: str, infos: list[ObjectInfo], keys: list[bytes]
) -> Iterator[tuple[str, int, bytes | None, bytes | None]]:
    """The states under ``tag`` from the highest seq down, until each key in ``keys`` has
    its newest: (name, seq, the key it opens with or None, its bytes or None if gone)."""
    named = sorted(
        ((seq, i.name) for i in infos if (seq := state_seq(i.name)) is not None), reverse=True
    )
    left = list(keys)
    for seq, name in named:
        if not left:
            return
        sealed = _get(repo, name)
        key_id = _opening_key(repo, tag, seq, sealed, left)
        if key_id is not None:
            left.remove(key_id)
        yield name, seq, key_id, sealed


@dataclass(frozen=True, slots=True)
class StateProblem:
    """An object under ``state/`` that is no live key's state: ``error`` when it is garbage
    (damage), not when it is a removed key's or an older s3vault's state."""

    name: str
    reason: str
    error: bool


def state_problems(repo: Repository) -> list[StateProblem]:
    """The objects under ``state/`` that are no state of a listed put-only key and that a
    host could take for one: every name that is not a state's, and every object above (or
    among) each key's newest state that opens with no key of its tag, found as prune finds
    the newest (``newest_states``: normally one GET per key). Older objects are not fetched:
    below each key's newest, prune deletes them after the grace whatever they are. Nothing in
    format version 1.

    Raises:
        BackendError: the listing or a GET failed.
    """
    if repo.config.version < PUT_ONLY_FORMAT:
        return []  # no put-only keys, no states: not even a listing
    hosts = by_tag(repo.list_objects(ObjectKind.STATE))
    live = writer_keys(repo) if hosts else {}
    every = writer_keys(repo, removed=True) if hosts else {}
    found = [
        StateProblem(i.name, NOT_A_NAME, error=True)
        for infos in hosts.values()
        for i in infos
        if state_seq(i.name) is None
    ]
    for tag, infos in sorted(hosts.items()):
        others = every.get(tag, [])
        for name, seq, key_id, sealed in _walk(repo, tag, infos, live.get(tag, [])):
            if key_id is not None or sealed is None:
                continue
            if _opening_key(repo, tag, seq, sealed, others):
                found.append(StateProblem(name, REMOVED, error=False))
            elif _unbound(repo, sealed, others):
                found.append(StateProblem(name, UNBOUND, error=False))
            else:
                found.append(StateProblem(name, GARBAGE, error=True))
    return sorted(found, key=lambda p: p.name)


def _get(repo: Repository, name: str) -> bytes | None:
    try:
        return repo.backend.get(name)
    except ObjectNotFoundError:
        return None  # deleted since the listing


def _opening_key(
    repo: Repository, tag: str, seq: int, sealed: bytes | None, keys: list[bytes]
) -> bytes | None:
    """The key among ``keys`` whose state ``sealed`` (found at ``<tag>/<seq>``) is: it opens
    with that writer's secret; None if it opens with none (or is gone)."""
    if sealed is None:
        return None
    for key_id in keys:
        try:
            hoststate.open_state_full(repo.sealer.current, key_id, sealed, host_tag=tag, seq=seq)
        except IntegrityError:
            continue
        return key_id
    return None


def _unbound(repo: Repository, sealed: bytes, keys: list[bytes]) -> bool:
    """Is ``sealed`` a state of one of ``keys`` sealed before states bound their place?"""
    for key_id in keys:
        try:
            hoststate.open_state_full(repo.sealer.current, key_id, sealed, host_tag="x", seq=1)
        except IntegrityError as exc:
            if str(exc) == hoststate.UNBOUND:
                return True
    return False
