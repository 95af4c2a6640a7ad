"""A put-only host's cache (design.md §6a): the endorsed views it has seen and its newest state,
as the sealed bytes the store holds, under ``<cache dir>/<repo id>/files/views/<index id>`` and
``.../files/state/<state id>`` (repository/cache.py ``FileCache``).

An unchanged run then downloads no view it has seen and not its own state: it lists, and
fetches only views of index files written since. Cached bytes are opened exactly like
downloaded ones (a view's σ signature checked, a state authenticated under the host's writer
secret, and a state's bytes checked against its name's storage id), so a damaged or planted
file is dropped and fetched again, never trusted. Views of index files no longer listed are
dropped from the cache; so are states but the newest. Deleting the cache costs requests, never
data.

The cache also keeps the host's **high-water mark**: the highest seq of a state this key
stored or trusted, under ``.../files/state-mark/<key id>`` (ASCII decimal). The store's
newest state that opens must be at least that new: an older one means the store was rolled
back or its newer states deleted (repository/putstate.py ``load_state`` then trusts no state),
and the next state is numbered past the mark. The mark is local memory against a store-level
attacker; without a cache (or after losing it) a host has none. A mark of more digits than a
state's seq has (putstate.py ``SEQ_DIGITS``) is no mark.

And the names under the host's tag that are not this key's states (they do not open: another
key file's of the host, or garbage someone put there), as empty files under
``.../files/state-other/<storage id of the name's last part>``: a later run passes over them
without a GET and without telling them again. Only a name whose bytes match its id is
recorded (damage in transit is not), and records of names no longer listed are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from s3vault.backend.base import Backend
from s3vault.crypto.hashing import storage_id
from s3vault.errors import UsageError
from s3vault.ids import ObjectId
from s3vault.repository.cache import FileCache

SEQ_DIGITS = 10  # as a state name's seq (repository/putstate.py)
VIEWS = "views"
STATES = "state"
MARKS = "state-mark"
OTHERS = "state-other"


def _name_id(name: str) -> ObjectId:
    """What a state name's record is kept under: the storage id of ``<seq>-<id>``."""
    return storage_id(name.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape"))


def _oid(text: str) -> ObjectId | None:
    try:
        return ObjectId.from_hex(text)
    except (UsageError, ValueError):
        return None


class HostCache:
    """Views and states by id; with no cache directory, every read goes to the store."""

    def __init__(self, files: FileCache | None) -> None:
        self._files = files

    def view(self, backend: Backend, name: str, index_id: ObjectId) -> tuple[bytes, bool]:
        """The sealed view ``name`` (of index file ``index_id``) and whether it came from the
        cache: cached, else downloaded and kept. The caller drops a copy that does not open.

        Raises:
            ObjectNotFoundError: not cached and gone from the store.
        """
        cached = self._files.read(VIEWS, index_id) if self._files else None
        if cached is not None:
            return cached, True
        sealed = backend.get(name)
        if self._files is not None:
            self._files.store(VIEWS, index_id, sealed)
        return sealed, False

    def drop_view(self, index_id: ObjectId) -> None:
        """Forget a cached view that did not open (the next read downloads it)."""
        if self._files is not None:
            self._files.drop(VIEWS, index_id)

    def keep_views(self, index_ids: Iterable[ObjectId]) -> None:
        """Drop cached views of index files no longer listed."""
        if self._files is not None:
            self._files.retain(VIEWS, set(index_ids))

    def state(self, backend: Backend, name: str) -> bytes:
        """The sealed state ``name`` (``.../<seq>-<state id>``): cached if its bytes match the
        id, else downloaded (the caller keeps it once it opened: ``keep_state``).

        Raises:
            ObjectNotFoundError: not cached and gone from the store.
        """
        sid = _oid(name.rsplit("/", 1)[-1].partition("-")[2])
        if self._files is not None and sid is not None:
            cached = self._files.read(STATES, sid)
            if cached is not None and storage_id(cached) == sid:
                return cached
        return backend.get(name)

    def keep_state(self, sid: ObjectId | str, sealed: bytes) -> None:
        """Keep a state this host opened (the newest: every other cached state is dropped);
        ``sid``: its id, or its name. Bytes that do not hash to the id are not kept."""
        if isinstance(sid, str):
            parsed = _oid(sid.rsplit("/", 1)[-1].partition("-")[2])
            if parsed is None:
                return
            sid = parsed
        if self._files is not None and storage_id(sealed) == sid:
            self._files.store(STATES, sid, sealed)
            self._files.retain(STATES, {sid})

    def passed_over(self, name: str) -> bool:
        """Was state name ``name`` found not to be this key's (``pass_over``)?"""
        return self._files is not None and self._files.read(OTHERS, _name_id(name)) is not None

    def pass_over(self, name: str, sealed: bytes) -> None:
        """Remember that ``name`` does not open with this key; only when ``sealed`` are the
        bytes its name says (its storage id), so that damage in transit is not remembered."""
        sid = _oid(name.rsplit("/", 1)[-1].partition("-")[2])
        if self._files is not None and sid is not None and storage_id(sealed) == sid:
            self._files.store(OTHERS, _name_id(name), b"")

    def keep_passed(self, names: Iterable[str]) -> None:
        """Drop the records of names no longer listed."""
        if self._files is not None:
            self._files.retain(OTHERS, {_name_id(n) for n in names})

    def high_water(self, key_id: ObjectId) -> int:
        """The highest seq of a state key ``key_id`` stored or trusted here; 0 if none is
        recorded (no cache, a new cache, or an unreadable mark: one of more digits than a
        state's seq has, which this host never wrote)."""
        raw = self._files.read(MARKS, key_id) if self._files is not None else None
        if raw is None or not raw.isdigit() or len(raw) > SEQ_DIGITS:  # ASCII digits only
            return 0
        try:
            return int(raw)
        except ValueError:  # more digits than int() parses
            return 0

    def raise_high_water(self, key_id: ObjectId, seq: int, *, lower: bool = False) -> None:
        """Record that key ``key_id`` stored or trusted a state of ``seq`` (never lowers it,
        unless ``lower``: a mark that left no seq to number past, which this host never
        wrote)."""
        if self._files is not None and (lower or seq > self.high_water(key_id)):
            self._files.store(MARKS, key_id, str(seq).encode("ascii"))
