"""The file-system layer of ``s3vault mount``: paths resolved to entries, without FUSE.

Layout (as restic's)::

    snapshots/<time>/…        one directory per snapshot (its tree), <time> in UTC
    snapshots/latest          → the newest
    hosts/<host>/<time>/…     the snapshots of each host; hosts/<host>/latest → its newest
    tags/<tag>/<time>/…       the snapshots with each tag; tags/<tag>/latest → its newest
    ids/<short id>/…          each snapshot by its short id (its full id if two share one)

``<time>`` is ``2026-12-05T04:20:31Z``; two snapshots of the same second get their short id
appended (``…Z-1f2e3d4c``). A ``/`` in a host or tag name is shown as ``_``.

The virtual directories are built from the snapshot list (a dictionary of a few entries per
snapshot), and built again when a look at them finds the list changed (at most every
``REFRESH_SECONDS``: a backup or a forget while mounted shows, as in restic's mount); below a
snapshot, a path is walked one tree at a time (iteratively) through a bounded cache of
directory maps and a bounded cache of resolved paths. Entries are immutable: a snapshot's
contents never change.

Errors are ``OSError`` with the errno FUSE returns: ENOENT (no such path), ENOTDIR, EIO (a tree
or blob that cannot be read: logged, and only what needs it fails).
"""

from __future__ import annotations

import errno
import logging
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import blake3

from s3vault.clock import Clock, SystemClock
from s3vault.errors import IntegrityError, ObjectNotFoundError, S3VaultError
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import TYPE_BITS, Node, NodeType
from s3vault.fusefs.content import (
    DEFAULT_CACHE_BYTES,
    BlobCache,
    FileContent,
    RemovedByPrune,
    read_fresh,
)
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)

DIR_CACHE = 256  # directory maps (name → node) kept
PATH_CACHE = 4096  # resolved paths kept
REFRESH_SECONDS = 30.0  # the snapshot list is looked at again at most this often
DIR_MODE = stat.S_IFDIR | 0o555

Path = tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What ``stat`` shows of one path, and where its content comes from: a tree node
    (``node``), a snapshot's root (``tree``), a virtual directory (``names``) or a link."""

    mode: int  # st_mode, type bits included
    size: int = 0
    mtime_ns: int = 0
    atime_ns: int = 0
    ctime_ns: int = 0
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    rdev: int = 0
    target: bytes | None = None  # a symlink's target
    node: Node | None = None
    tree: ObjectId | None = None  # the tree listed by a directory
    names: tuple[bytes, ...] = ()  # a virtual directory's entries

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def _time_ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def _safe(name: str) -> bytes:
    """A host or tag as one path component: a slash becomes "_", and so does an empty name;
    "." and ".." (which name no directory of their own: they showed as a second "." and
    ".." entry, their snapshots out of reach) get a "_" in front."""
    name = name.replace("/", "_") or "_"
    return (f"_{name}" if name in (".", "..") else name).encode("utf-8", "surrogateescape")


def _components(names: Iterable[str]) -> dict[str, bytes]:
    """Each host (or tag) name's directory: ``_safe``'s, unless names that differ would share
    it (hosts ``web/1`` and ``web_1``: one directory held both, its ``latest`` the other
    host's: an attack pass, 2026-12-07). Then the name that is the directory's as it is keeps
    it, and each other gets ``~`` and 8 hex digits of its BLAKE3 hash after it."""
    claims: dict[bytes, list[str]] = {}
    for name in sorted(set(names)):
        claims.setdefault(_safe(name), []).append(name)
    out: dict[str, bytes] = {}
    for safe, owners in claims.items():
        for name in owners:
            unique = len(owners) == 1 or name.encode("utf-8", "surrogateescape") == safe
            tag = blake3.blake3(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            out[name] = safe if unique else safe + f"~{tag}".encode()
    return out


def node_entry(node: Node) -> Entry:
    """The entry of a tree node: its stored mode, owner, times and size, each within what the
    kernel takes (a forged or damaged node's 2^40 mode or 2^80 ns must not fail the lookup)."""
    mode = TYPE_BITS[node.type] | (node.mode & 0o7777)
    size = max(0, min(node.size, _S64))
    if node.type is NodeType.SYMLINK:
        size = len(node.link_target or b"")
    elif node.type is not NodeType.FILE:
        size = 0
    mtime = _time(node.mtime_ns)
    return Entry(
        mode=mode,
        size=size,
        mtime_ns=mtime,
        atime_ns=_time(node.atime_ns) or mtime,
        ctime_ns=_time(node.ctime_ns) or mtime,
        uid=_owner(node.uid),
        gid=_owner(node.gid),
        nlink=max(1, min(node.links, _S64)) if node.type is NodeType.FILE else 1,
        rdev=node.rdev if 0 <= node.rdev < 1 << 64 else 0,
        target=node.link_target if node.type is NodeType.SYMLINK else None,
        node=node,
        tree=node.subtree if node.type is NodeType.DIR else None,
    )


class _Layout:
    """The virtual directories and links above the snapshot trees, built once."""

    def __init__(self, snapshots: Iterable[tuple[ObjectId, SnapshotFile]]) -> None:
        self.entries: dict[Path, Entry] = {}
        self._dirs: dict[Path, list[bytes]] = {(): []}
        ordered = sorted(snapshots, key=lambda item: (item[1].time, item[0].hex()))
        times = [s.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for _sid, s in ordered]
        seen: dict[str, int] = {}
        for name in times:
            seen[name] = seen.get(name, 0) + 1
        newest = _time_ns(ordered[-1][1].time) if ordered else 0
        self._newest = newest
        latest: dict[Path, bytes] = {}
        for top in (b"snapshots", b"hosts", b"tags", b"ids"):
            self._add_dir((top,))
        hosts = _components(s.hostname for _sid, s in ordered)
        tags = _components(tag for _sid, s in ordered for tag in s.tags)
        for (sid, snap), name in zip(ordered, times, strict=True):
            label = (name if seen[name] == 1 else f"{name}-{sid.short}").encode()
            t = _time_ns(snap.time)
            root = Entry(mode=DIR_MODE, nlink=2, tree=snap.tree, mtime_ns=t, atime_ns=t, ctime_ns=t)
            groups = [(b"snapshots",), (b"hosts", hosts[snap.hostname])]
            groups += [(b"tags", tags[tag]) for tag in snap.tags]
            for group in groups:
                self._add(group, label, root)
                latest[group] = label  # oldest first: the last one is the newest
            short = sid.short.encode()
            self._add(
                (b"ids",), sid.hex().encode() if (b"ids", short) in self.entries else short, root
            )
        for group, label in latest.items():
            self._add(group, b"latest", self._link(label))
        for path, names in self._dirs.items():
            self.entries[path] = self._dir(tuple(names))

    def _add(self, parent: Path, name: bytes, entry: Entry) -> None:
        self._add_dir(parent)
        if (*parent, name) not in self.entries:  # a tag named twice in one snapshot
            self._dirs[parent].append(name)
        self.entries[(*parent, name)] = entry

    def _add_dir(self, path: Path) -> None:
        """Make ``path`` and its parents directories (their entries are made at the end)."""
        for depth in range(1, len(path) + 1):
            here = path[:depth]
            if here not in self._dirs:
                self._dirs[here] = []
                self._dirs[here[:-1]].append(here[-1])

    def _dir(self, names: tuple[bytes, ...]) -> Entry:
        t = self._newest
        return Entry(mode=DIR_MODE, nlink=2, names=names, mtime_ns=t, atime_ns=t, ctime_ns=t)

    def _link(self, target: bytes) -> Entry:
        t = self._newest
        mode = stat.S_IFLNK | 0o777
        return Entry(mode=mode, size=len(target), target=target, mtime_ns=t, atime_ns=t, ctime_ns=t)


Reload = Callable[[], tuple[Repository, list[tuple[ObjectId, SnapshotFile]]]]


class SnapshotView:
    """The snapshots of ``repo`` as paths. Thread-safe; every cache is bounded.

    ``snapshots``: the snapshots shown (``list_snapshots``). With ``reload`` (the repository
    with a fresh index, and the snapshots to show now), a snapshot written or forgotten while
    mounted shows once the top directories are looked at ``refresh_after`` seconds (of
    ``clock``) after the last look, as restic's mount does.
    """

    def __init__(
        self,
        repo: Repository,
        snapshots: Iterable[tuple[ObjectId, SnapshotFile]],
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        reload: Reload | None = None,
        refresh_after: float = REFRESH_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self._repo = repo
        shown = list(snapshots)
        self._shown = {sid for sid, _ in shown}
        self._ever_shown = set(self._shown)
        self._layout = _Layout(shown)
        self.blobs = BlobCache(repo, cache_bytes, forgotten=self.forgotten)
        self._lock = threading.Lock()
        self._dir_maps: OrderedDict[ObjectId, dict[bytes, Node]] = OrderedDict()
        self._paths: OrderedDict[Path, Entry] = OrderedDict()
        self.unreadable: dict[str, str] = {}  # trees that could not be read, and why
        self.removed: dict[str, str] = {}  # trees a prune beside the mount removed
        self._reload = reload
        self._refresh_after = refresh_after
        self._clock = clock or SystemClock()
        self._checked = self._clock.monotonic()
        self._reloading = threading.Lock()

    def forgotten(self, repo: Repository) -> int:
        """How many snapshots shown are gone from the store now (one listing)."""
        with self._lock:
            shown = set(self._ever_shown)  # a file opened before a refresh is still read
        return len(shown - set(repo.list_files(ObjectKind.SNAPSHOTS)))

    @property
    def snapshots(self) -> int:
        """How many snapshots are shown now."""
        return len(self._shown)

    def _maybe_refresh(self) -> None:
        """Reload the snapshots if the last look is old enough; keep what is shown when the
        reload fails (logged)."""
        if self._reload is None or self._clock.monotonic() - self._checked < self._refresh_after:
            return
        if not self._reloading.acquire(blocking=False):
            return  # another thread reloads
        try:
            self._checked = self._clock.monotonic()
            try:
                repo, shown = self._reload()
            except S3VaultError as exc:
                log.warning("the snapshot list was not refreshed: %s", exc)
                return
            if {sid for sid, _ in shown} == self._shown:
                return
            layout = _Layout(shown)
            with self._lock:
                self._repo, self._layout = repo, layout
                self._shown = {sid for sid, _ in shown}
                self._ever_shown |= self._shown
                self._paths.clear()
            self.blobs.rebind(repo)
        finally:
            self._reloading.release()

    @staticmethod
    def split(path: str | bytes) -> Path:
        """A path (``/a/b``, as FUSE gives it) as its components."""
        raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else path
        return tuple(part for part in raw.split(b"/") if part)

    def lookup(self, path: Path) -> Entry:
        """The entry at ``path``.

        Raises:
            OSError: ENOENT, ENOTDIR, or EIO (a directory on the way cannot be read).
        """
        if len(path) <= 2:  # the top directories: where new snapshots appear
            self._maybe_refresh()
        entry = self._layout.entries.get(path)
        if entry is not None:
            return entry
        with self._lock:
            entry = self._paths.get(path)
            if entry is not None:
                self._paths.move_to_end(path)
                return entry
            parent = self._paths.get(path[:-1])  # looked up just before, as a rule: one step
        if parent is not None:
            entry, rest = parent, path[-1:]
        else:  # from the deepest top directory: a walk as long as the path
            depth = len(path)
            while depth > 0 and path[:depth] not in self._layout.entries:
                depth -= 1
            entry, rest = self._layout.entries[path[:depth]], path[depth:]
        for name in rest:
            if not entry.is_dir:
                raise OSError(errno.ENOTDIR, "not a directory")
            node = self._children(entry).get(name) if entry.tree is not None else None
            if node is None:
                raise OSError(errno.ENOENT, "no such file or directory")
            entry = node_entry(node)
        with self._lock:
            self._paths[path] = entry
            if len(self._paths) > PATH_CACHE:
                self._paths.popitem(last=False)
        return entry

    def listdir(self, path: Path) -> list[bytes]:
        """The names in the directory at ``path``, in stored order.

        Raises:
            OSError: ENOENT, ENOTDIR, or EIO.
        """
        entry = self.lookup(path)
        if not entry.is_dir:
            raise OSError(errno.ENOTDIR, "not a directory")
        if entry.tree is None:
            return list(entry.names)
        return list(self._children(entry))

    def readlink(self, path: Path) -> bytes:
        """A symlink's target.

        Raises:
            OSError: EINVAL (not a symlink), ENOENT, EIO.
        """
        entry = self.lookup(path)
        if entry.target is None:
            raise OSError(errno.EINVAL, "not a symbolic link")
        return entry.target

    def xattrs(self, path: Path) -> dict[bytes, bytes]:
        """The extended attributes stored with the entry at ``path`` (none for the virtual
        directories above the snapshots). The mount answered every xattr call with "not
        supported" where restic's mount shows them (an attack pass, 2026-12-07).

        Raises:
            OSError: ENOENT, ENOTDIR, EIO.
        """
        entry = self.lookup(path)
        return dict(entry.node.xattrs) if entry.node is not None else {}

    def open(self, path: Path) -> FileContent:
        """A reader of the file at ``path``.

        Raises:
            OSError: EISDIR, EINVAL (not a regular file), ENOENT, EIO.
        """
        entry = self.lookup(path)
        if entry.is_dir:
            raise OSError(errno.EISDIR, "is a directory")
        if entry.node is None or entry.node.type is not NodeType.FILE:
            raise OSError(errno.EINVAL, "not a regular file")
        return FileContent(self._repo, entry.node, self.blobs)

    def close(self) -> None:
        """Release the caches and the read-ahead threads."""
        self.blobs.close()

    def _children(self, entry: Entry) -> dict[bytes, Node]:
        """The directory map of a tree entry, through the cache.

        Raises:
            OSError: EIO when the tree cannot be read (logged once).
        """
        tid = entry.tree
        assert tid is not None
        with self._lock:
            found = self._dir_maps.get(tid)
            if found is not None:
                self._dir_maps.move_to_end(tid)
                return found
        repo = self._repo
        try:
            tree, through = read_fresh(
                repo, BlobType.TREE, tid, lambda r: r.load_tree(tid), self.forgotten
            )
            nodes = tree.nodes
        except (IntegrityError, ObjectNotFoundError) as exc:
            into = self.removed if isinstance(exc, RemovedByPrune) else self.unreadable
            if tid.short not in into:
                log.warning("tree %s cannot be read: %s", tid.short, exc)
            into[tid.short] = str(exc)
            raise OSError(errno.EIO, f"tree {tid.short} cannot be read") from None
        if through is not repo:  # another host's prune repacked it: read through the fresh index
            with self._lock:
                self._repo = through
            self.blobs.rebind(through)
        children = {node.name: node for node in nodes}
        with self._lock:
            self._dir_maps[tid] = children
            if len(self._dir_maps) > DIR_CACHE:
                self._dir_maps.popitem(last=False)
        return children


_S64 = (1 << 63) - 1
NOBODY = 65534  # an owner no uid_t holds is shown as nobody's


def _time(ns: int) -> int:
    return max(-_S64, min(ns, _S64))


def _owner(uid: int) -> int:
    return uid if 0 <= uid < 1 << 32 else NOBODY
