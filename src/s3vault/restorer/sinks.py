"""Where restored files go. FilesystemSink writes a directory tree safely:

- directories are created one component at a time; an existing symlink (or file) where a
  directory belongs is removed, never followed;
- files are opened with O_NOFOLLOW, so a symlink placed at a file's path is never written through,
  and O_NONBLOCK, so a FIFO placed there cannot stall the restore; every descriptor opened for
  writing is checked before a byte goes through it (``_own_file``: a regular file with no other
  link, owned as the files this restore creates), and a file once more before its owner and
  mode are set, opened as itself and set through that descriptor (``_set_file``), so a hard
  link, a FIFO or a user's own file swapped in during the restore is neither written through
  nor given the snapshot's owner and mode (attack passes, 2026-12-06: parallel restores wrote
  into planted links; 2026-12-08: a file exchanged between the check and the chown by name
  got root and 4755);
- symlinks are created last, after every file and directory below the target exists, so a
  snapshot cannot plant ``evil -> /outside`` and then write ``evil/file``;
- metadata (mode, owner when root, xattrs, times) is applied after the content, directories
  deepest first so their mtimes survive; each attribute on its own, checked first (nodes.py),
  so one that cannot be applied is reported and the others still are;
- entries are reached through a Locator, so paths longer than PATH_MAX restore too.

Errors: a failure that concerns one entry (a directory in the way, a name the file system
refuses) raises EntryError, and the restorer fails that entry and goes on; a failure of the
target as a whole (no space, quota, read-only file system, I/O error) raises RestoreError and
stops the restore.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from s3vault.crashpoint import crash_point
from s3vault.errors import RestoreError, raise_if_out_of_descriptors
from s3vault.format.tree import Node, NodeType
from s3vault.restorer import nodes
from s3vault.restorer.locator import ROOT, Entry, Locator, descriptor_share

_WRITE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
# Reading a restored file back (restorer.py's already-correct check, proof.py): O_NONBLOCK, so
# a FIFO swapped in between the stat and the open does not stall the read
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
SWAPPED = "replaced during the restore by a link or a special file: not written through"
# why a file's owner and mode are not set: what is at its path is not the file the restore
# wrote or kept (a link, a special file, or another user's file exchanged for it)
SWAPPED_FOR_SETTING = (
    "replaced during the restore by a link, a special file or another owner's file: not set"
)
# why a file is not written in place where its directory may not be written (precise: the
# words of SWAPPED named "a link or a special file" for another user's file: an attack pass)
IN_PLACE = "its directory may not be written, and it is not this restore's to write over: "
_PROBE = ".s3vault-restore-probe-"  # see FilesystemSink._creator
HOLE_BLOCK = 64 * 1024
_ZERO_BLOCK = bytes(HOLE_BLOCK)
_ZERO_PROBE = bytes(4096)
# Files kept open between the blobs written into them (a file spread over many packs would
# otherwise cost an open and a close per blob); beyond this, a write opens and closes. At most
# a quarter of what the process may open (``ulimit -n``): the rest is for the directories on
# the way, the packs read, pipes and threads (an attack pass: under ``ulimit -n 256`` each
# restore worker kept 256 files open, and every further file failed "Too many open files").
MAX_OPEN_FILES = 256


def data_runs(data: bytes) -> list[tuple[int, int]]:
    """(start, end) ranges of ``data`` to write; aligned 64 KiB blocks of zeros are left out.

    Every blob a restore writes passes here: a block that ends or starts with a byte other
    than zero cannot be a hole, which settles almost every blob without scanning it (the
    scans were 2 % of a restore's CPU, perf on the bench corpus)."""
    size = len(data)
    if not any(
        data[p] == 0 and data[min(p + HOLE_BLOCK, size) - 1] == 0
        for p in range(0, size, HOLE_BLOCK)
    ):
        return [(0, size)] if size else []
    if size < HOLE_BLOCK:
        return [] if data.count(0) == size else [(0, size)]
    first = data.find(_ZERO_PROBE)
    if first == -1:  # no 4 KiB of zeros anywhere: nothing can be a hole
        return [(0, len(data))]
    runs: list[tuple[int, int]] = []
    start = 0 if first >= HOLE_BLOCK else -1
    for pos in range(first // HOLE_BLOCK * HOLE_BLOCK, len(data), HOLE_BLOCK):
        block = data[pos : pos + HOLE_BLOCK]
        zero = block == _ZERO_BLOCK[: len(block)]
        if zero and start >= 0:
            runs.append((start, pos))
            start = -1
        elif not zero and start < 0:
            start = pos
    if start >= 0:
        runs.append((start, len(data)))
    return runs


# The target as a whole cannot take more: stop instead of failing every further file.
_FATAL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})  # EROFS: of the target


# A directory of the snapshot where the target holds a symbolic link: ``/lib -> usr/lib`` on a
# live system, restored into ``/``. Removing the link broke the system (everything under usr/lib
# gone from /lib); following it could lead outside the target. Left alone, and said.
SYMLINK_IN_PLACE = (
    "the target has a symbolic link here: left as it is, never followed or removed (restore "
    "into an empty directory, or remove the link first)"
)


class EntryError(RestoreError):
    """One entry cannot be written; the restorer fails it, reports it and goes on."""


def _os_error(exc: OSError, what: str, path: bytes) -> RestoreError:
    """RestoreError naming the path when the target as a whole failed; else EntryError (the
    restorer names the entry).

    Raises:
        OSError: ``exc`` itself when the process is out of descriptors (errors.py).
    """
    raise_if_out_of_descriptors(exc)
    shown = os.fsdecode(path)
    if exc.errno == errno.ENOSPC:
        return RestoreError(f"no space left on device while writing {shown}")
    if exc.errno in _FATAL:
        return RestoreError(f"{what} {shown}: {exc.strerror or exc}")
    return EntryError(f"{what}: {exc.strerror or exc}")


def _read_only(path: bytes) -> bool:
    """Whether the file system of ``path`` is mounted read-only (as a whole, it cannot take
    more: the restore stops); True where that cannot be asked."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def _clear(fd: int | None, name: bytes) -> None:
    """Remove whatever non-directory sits at name (a symlink is removed, not followed).

    Raises:
        EntryError: a directory is there.
    """
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        msg = "a directory is in the way"
        raise EntryError(msg)
    os.unlink(name, dir_fd=fd)


class FilesystemSink:
    """Writes restored content and metadata into a target directory."""

    def __init__(
        self, locator: Locator, *, owners: bool | None = None, shared: bool = False
    ) -> None:
        """``shared``: other processes write into the same files at once (``restore --jobs``,
        restorer/parallel.py). Then a file is created without O_EXCL and nothing in its way is
        removed (the parent created every file a non-empty target might hold a stale copy of),
        and every write creates the file, even one of zeros only, so that a file all of whose
        blobs were written exists."""
        self._loc = locator
        self._owners = os.geteuid() == 0 if owners is None else owners
        self._shared = shared
        self._open: dict[Entry, int] = {}
        self._keep_open = descriptor_share(MAX_OPEN_FILES)  # locator.py: a quarter at most
        self._created: set[Entry] = set()
        self._open_lock = threading.Lock()  # guards both, and makes creation happen once
        self._uid: int | None = None  # see _creator
        # entry → (device, inode) of the file this sink made or kept there: its writes and its
        # owner and mode go to that inode alone (``_same_inode``)
        self._inodes: dict[Entry, tuple[int, int]] = {}

    def _in_place(self, dir_fd: int | None, name: bytes) -> int:
        """The file already at ``name``, emptied, for writing anew where its directory may
        not be written (so it cannot be replaced): only a regular file with no other name,
        owned as this restore's files are (``_own_file``, checked before anything is cut).
        A second restore as an owner into a directory of mode 0111 said "cannot create
        file: Permission denied", exit 3, where restic writes the file in place (an attack
        pass, 2026-12-07)."""
        try:
            fd = os.open(name, _WRITE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            raise EntryError(f"{IN_PLACE}a FIFO is there") from None  # "No such device"
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise EntryError(f"{IN_PLACE}what is there is no regular file")
            if st.st_nlink != 1:
                raise EntryError(f"{IN_PLACE}the file there has another name (a hard link)")
            if st.st_uid != self._creator():
                raise EntryError(f"{IN_PLACE}the file there belongs to uid {st.st_uid}")
            self._own_file(fd)
            os.ftruncate(fd, 0)  # no old byte stays where the new file has a hole
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _same_inode(self, entry: Entry, st: os.stat_result) -> bool:
        """Whether ``st`` is the file this sink made or kept at ``entry`` (True where it knows
        of none: a worker process made it). Owned by root both, two files of one root restore
        could be exchanged by a user who may write in the target, and the owner and mode of
        the setuid program went to the copy of bash (an attack pass, 2026-12-08)."""
        known = self._inodes.get(entry)
        return known is None or known == (st.st_dev, st.st_ino)

    def _own_file(self, fd: int) -> None:
        """The descriptor is one this restore may write: a regular file with no other name
        (each file is restored with one link; its hard links come after the content), owned
        as the files this process creates in the target are. A hard link planted at the
        file's path leads to someone else's file, or to one with two names.

        Raises:
            EntryError: it is not.
        """
        if not self._restored(os.fstat(fd), ()):
            raise EntryError(SWAPPED)

    def keeps(self, entry: Entry, st: os.stat_result, node: Node) -> bool:
        """Whether a file the target holds (``st``) may stay as the snapshot's, its owner and
        mode set in place: only one owned as the snapshot says or as this restore creates
        files. A root restore gave a user's own file, planted with the snapshot's content and
        kept open in a shared writable mapping, root and 4755 (and under if-changed, any file
        of the snapshot's size and time): the user then wrote their program through the
        mapping, which keeps the set-id bits (an attack pass, 2026-12-08). Another owner's file
        is written anew: a new file, the old one and its mappings left behind. The file kept
        is the one its owner and mode go to."""
        if not self._restored(st, (node.uid,)):
            return False
        with self._open_lock:
            self._inodes[entry] = (st.st_dev, st.st_ino)
        return True

    def _restored(self, st: os.stat_result, owners: tuple[int, ...]) -> bool:
        """Whether ``st`` is a file this restore may write or set: regular, with one name,
        owned as this restore creates files or by one of ``owners``."""
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return False
        return st.st_uid in (*owners, self._creator())

    def _creator(self) -> int:
        """The owner a file this process creates in the target gets: this user, except where
        the file system gives another (an NFS export that squashes root, a vfat mount's
        ``uid=``); learned once from a file created and removed at the target's top."""
        if self._uid is None:
            probe = f"{_PROBE}{os.getpid()}-{os.urandom(6).hex()}".encode()
            with self._loc.at(Entry(ROOT, probe)) as (dir_fd, name):
                fd = os.open(name, _WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dir_fd)
                try:
                    self._uid = os.fstat(fd).st_uid
                finally:
                    os.close(fd)
                    os.unlink(name, dir_fd=dir_fd)
        return self._uid

    @property
    def owners(self) -> bool:
        """Whether owners and device nodes are restored (by default: when running as root)."""
        return self._owners

    def _failed(self, exc: OSError, what: str, entry: Entry) -> RestoreError:
        if exc.errno == errno.EROFS and not _read_only(self._loc.target):
            # a read-only mount inside the target (a container's, /boot/efi): its entries are
            # refused, the rest restored (it stopped the whole restore: an attack pass)
            return EntryError(f"{what}: {exc.strerror or exc} (a read-only mount in the target)")
        return _os_error(exc, what, self._loc.path(entry) if exc.errno in _FATAL else b"")

    def make_dir(self, entry: Entry) -> None:
        """Ensure a real directory exists at entry (never through a symlink).

        Raises:
            EntryError: it cannot be created.
            RestoreError: the target cannot take it (full, read-only).
        """
        try:
            with self._loc.at(entry) as (fd, name):
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        self._let_in(fd, name, st)
                        return
                    if stat.S_ISLNK(st.st_mode):  # never followed, and never removed either
                        raise EntryError(SYMLINK_IN_PLACE) from None
                    os.unlink(name, dir_fd=fd)  # a file where the snapshot has a directory
                    os.mkdir(name, 0o700, dir_fd=fd)
        except OSError as exc:
            raise self._failed(exc, "cannot create directory", entry) from None

    def _let_in(self, fd: int | None, name: bytes, st: os.stat_result) -> None:
        """A directory of this user's own that it may not enter or write (a mode the
        snapshot gave it, such as 0000): opened to its owner until its mode is set again at
        the end. A user's second restore into its own earlier result said "cannot create
        file: Permission denied" of every file below such a directory (an attack pass,
        2026-12-08). Root enters it anyway; another user's directory is left as it is."""
        if self._owners or st.st_uid != os.geteuid() or st.st_mode & 0o700 == 0o700:
            return
        os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=fd)

    def create_file(self, entry: Entry, size: int) -> None:
        """Create (or replace) a regular file of ``size`` bytes, all holes, now. A file that
        gets content is created by its first write instead (see write()).

        Raises:
            EntryError: it cannot be created.
            RestoreError: the target cannot take it (full, read-only).
        """
        with self._open_lock:
            if entry not in self._created:
                os.close(self._create(entry, size))

    def _create(self, entry: Entry, size: int) -> int:
        """Create the file (holding the lock) and return a descriptor for writing it."""
        flags = _WRITE_FLAGS | os.O_CREAT | (0 if self._shared else os.O_EXCL)
        try:
            with self._loc.at(entry) as (dir_fd, name):
                try:
                    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
                except FileExistsError:  # never followed: O_EXCL refuses a symlink too
                    try:
                        _clear(dir_fd, name)
                    except PermissionError:  # a directory it may not write (mode 0111)
                        fd = self._in_place(dir_fd, name)
                    else:
                        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
            try:
                self._own_file(fd)
                if size:
                    os.ftruncate(fd, size)
                made = os.fstat(fd)
            except BaseException:
                os.close(fd)
                raise
        except EntryError as exc:
            raise EntryError(f"cannot create file: {exc}") from None
        except OSError as exc:
            raise self._failed(exc, "cannot create file", entry) from None
        self._created.add(entry)
        self._inodes[entry] = (made.st_dev, made.st_ino)
        return fd

    def write(self, entry: Entry, size: int, offset: int, data: bytes) -> None:
        """Write a blob at an offset into a file of ``size`` bytes; runs of zeros stay holes.

        The first write creates the file at its full size, all holes, so zero blocks need no
        write; writes into one file may come from several threads at once.

        Raises:
            EntryError: the file cannot be created or written.
            RestoreError: the target cannot take it (disk full names the file).
        """
        runs = data_runs(data)
        if not runs and not self._shared:
            return
        fd, kept = self._fd(entry, size)
        try:
            whole = memoryview(data)
            for start, end in runs:
                view, pos = whole[start:end], offset + start
                while view:
                    n = os.pwrite(fd, view, pos)
                    view, pos = view[n:], pos + n
        except OSError as exc:
            raise self._failed(exc, "cannot write", entry) from None
        finally:
            if not kept:
                os.close(fd)

    def _fd(self, entry: Entry, size: int) -> tuple[int, bool]:
        """A descriptor for writing the file, and whether it is kept open for later writes."""
        with self._open_lock:
            fd = self._open.get(entry)
            if fd is not None:
                return fd, True
            if entry in self._created:
                try:
                    with self._loc.at(entry) as (dir_fd, name):
                        fd = os.open(name, _WRITE_FLAGS, dir_fd=dir_fd)
                    try:
                        self._own_file(fd)
                        if not self._same_inode(entry, os.fstat(fd)):
                            raise EntryError(SWAPPED)  # another of its files, exchanged
                    except BaseException:
                        os.close(fd)
                        raise
                except OSError as exc:
                    raise self._failed(exc, "cannot write", entry) from None
            else:
                fd = self._create(entry, size)
            if len(self._open) < self._keep_open:
                self._open[entry] = fd
                return fd, True
        return fd, False

    def finish_file(self, entry: Entry, size: int) -> None:
        """Every write into the file has returned: release its descriptor, and create the
        file if no write did (its content was all zeros).

        Raises:
            EntryError: it cannot be created.
            RestoreError: the target cannot take it.
        """
        self.release(entry)
        if entry not in self._created:
            self.create_file(entry, size)

    def release(self, entry: Entry) -> None:
        """Close the file's descriptor if one is open (also when the file failed)."""
        with self._open_lock:
            fd = self._open.pop(entry, None)
        if fd is not None:
            os.close(fd)

    def close_all(self) -> None:
        """Release every descriptor (the restore ended, or stopped)."""
        with self._open_lock:
            fds, self._open = list(self._open.values()), {}
        for fd in fds:
            os.close(fd)

    def make_other(self, entry: Entry, node: Node) -> str:
        """Create a symlink, FIFO or device node; returns a warning or empty."""
        try:
            with self._loc.at(entry) as (fd, name):
                _clear(fd, name)
                if node.type is NodeType.SYMLINK:
                    os.symlink(node.link_target or b"", name, dir_fd=fd)
                elif node.type is NodeType.FIFO:
                    os.mkfifo(name, 0o600, dir_fd=fd)
                elif node.type in (NodeType.CHARDEV, NodeType.BLOCKDEV):
                    if not self._owners:
                        return "device nodes are only restored as root"
                    kind = stat.S_IFCHR if node.type is NodeType.CHARDEV else stat.S_IFBLK
                    os.mknod(name, kind | 0o600, node.rdev, dir_fd=fd)
                else:
                    return f"{node.type.value} entries are not restored"
        except EntryError as exc:
            return f"cannot create {node.type.value}: {exc}"
        except (OSError, ValueError, OverflowError) as exc:
            if isinstance(exc, OSError):
                raise_if_out_of_descriptors(exc)
            return f"cannot create {node.type.value}: {_reason(exc)}"
        return ""

    def link(self, entry: Entry, existing: Entry) -> None:
        """Create a hard link to a file restored earlier in this run.

        Raises:
            EntryError: the link cannot be made.
            RestoreError: the target cannot take it.
        """
        try:
            with self._loc.at(existing) as (src_fd, src), self._loc.at(entry) as (fd, name):
                _clear(fd, name)
                os.link(src, name, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)
        except EntryError as exc:
            raise EntryError(f"cannot create hard link: {exc}") from None
        except OSError as exc:
            raise self._failed(exc, "cannot create hard link", entry) from None

    def set_metadata(self, entry: Entry, node: Node) -> str:
        """Apply owner, xattrs, mode and times; returns a warning (every attribute that could
        not be applied, and why) or empty. A file is set only while it is one this restore
        wrote or kept (``keeps``: a file the target held, found to be the snapshot's).

        The common case costs what it always did: every field in range, one pass. Otherwise,
        or when a call fails, each attribute is applied on its own so the others still are.
        """
        try:
            with self._loc.at(entry) as (fd, name):
                if node.type is not NodeType.FILE:
                    problems = self._set(_Place(fd, name), node)
                else:
                    problems = self._set_file(fd, name, node, entry)
        except OSError as exc:
            raise_if_out_of_descriptors(exc)
            problems = [_reason(exc)]
        return f"cannot set metadata ({'; '.join(problems)})" if problems else ""

    def _set_file(self, fd: int | None, name: bytes, node: Node, entry: Entry) -> list[str]:
        """A file's attributes, every one set on the inode checked to be this restore's
        (opened once as itself: O_PATH, O_NOFOLLOW) through its /proc/self/fd name. Checked
        by name and set by name, a user who may write in the target exchanged their own file
        in between (renameat2 RENAME_EXCHANGE in a loop) and got root and 4755 on it, exit 0
        (an attack pass, 2026-12-08)."""
        crash_point("restore-set-file")
        pinned = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            st = os.fstat(pinned)
            # the file made or kept there (its size too: where a worker process made it,
            # this sink knows no inode), and one that may be set
            mine = self._same_inode(entry, st) and st.st_size == node.size
            if not mine or not self._restored(st, (node.uid,)):
                return [SWAPPED_FOR_SETTING]
            crash_point("restore-set-file-checked")
            problems = self._set(_Place(None, b"/proc/self/fd/%d" % pinned, follow=True), node)
            now = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):  # moved away meanwhile:
                problems.append(SWAPPED_FOR_SETTING)  # what stands there is not the file
            return problems
        finally:
            os.close(pinned)

    def _set(self, at: _Place, node: Node) -> list[str]:
        """Every attribute in one pass (the common case costs what it always did), else, when
        a field is out of range or a call fails, each on its own so the others still are."""
        if nodes.applicable(node):
            try:
                self._apply(at, node)
            except (OSError, ValueError, OverflowError):
                pass  # find out which attribute failed, and apply the others
            else:
                return []
        return self._apply_each(at, node)

    def _apply(self, at: _Place, node: Node) -> None:
        if self._owners:
            os.chown(at.name, node.uid, node.gid, dir_fd=at.fd, follow_symlinks=at.follow)
        if node.type is not NodeType.SYMLINK:
            for key, value in node.xattrs:
                _setxattr(at, key, value)
            # chown succeeded (root) or was not asked for (the restoring user's own files)
            _chmod(at, node.mode if self._owners else _setid_kept(at, node)[0])
        _set_times(at, node.atime_ns or node.mtime_ns, node.mtime_ns)

    def _apply_each(self, at: _Place, node: Node) -> list[str]:
        """Each attribute on its own, checked first; what could not be applied, and why."""
        problems: list[str] = []
        if self._owners:
            why = nodes.owner_problem(node) or _attempt(
                os.chown, at.name, node.uid, node.gid, dir_fd=at.fd, follow_symlinks=at.follow
            )
            _note(problems, "owner", why)
        if node.type is not NodeType.SYMLINK:
            for key, value in node.xattrs:
                why = nodes.xattr_problem(key)
                if not why and (failed := _attempt(_setxattr, at, key, value)):
                    why = f"{os.fsdecode(key)}: {failed}"
                _note(problems, "xattr", why)
            mode, dropped = _setid_kept(at, node)
            if self._owners:  # a user's restore restores no owner, and says so in the docs
                _note(problems, "mode", dropped)
            why = nodes.mode_problem(node) or _attempt(_chmod, at, mode)
            _note(problems, "mode", why)
        atime = node.atime_ns or node.mtime_ns
        why = nodes.times_problem(node) or _attempt(_set_times, at, atime, node.mtime_ns)
        _note(problems, "times", why)
        return problems


@dataclass(frozen=True, slots=True)
class _Place:
    """Where attributes are set: ``name`` in the directory ``fd`` (None: ``name`` is a path),
    not following a symlink there; or, ``follow``, a /proc/self/fd name of an inode opened
    as itself, which names that inode only."""

    fd: int | None
    name: bytes
    follow: bool = False


def _setid_kept(at: _Place, node: Node) -> tuple[int, str]:
    """The mode to give a restored file, and why a set-id bit was left off (or empty): kept
    only where the file has the snapshot's owner (group), ``nodes.setid_for_owner``."""
    if not node.mode & nodes.SETID or node.type is not NodeType.FILE:
        return node.mode, ""
    try:
        now = os.stat(at.name, dir_fd=at.fd, follow_symlinks=at.follow)
    except OSError as exc:
        return node.mode & ~nodes.SETID, f"set-id bits not restored ({_reason(exc)})"
    mode, dropped = nodes.setid_for_owner(node, now.st_uid, now.st_gid)
    return mode, f"{'; '.join(dropped)} (bit not restored)" if dropped else ""


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _attempt(call: Callable[..., object], *args: object, **kwargs: object) -> str:
    """Run one metadata call; what went wrong, or empty."""
    try:
        call(*args, **kwargs)
    except (OSError, ValueError, OverflowError) as exc:
        return _reason(exc)
    return ""


def _note(problems: list[str], what: str, why: str) -> None:
    if why:
        problems.append(f"{what}: {why}")


def _chmod(at: _Place, mode: int) -> None:
    """Set an entry's mode without following a symlink in its place. chmod has no "do not
    follow" on Linux: a user who can write into the target and swapped a restored directory
    or file for a link had root apply the snapshot's mode (777, 4755) to whatever it named
    (an attack pass, 2026-12-06). The entry is opened as itself (O_PATH, O_NOFOLLOW) and its
    mode set through that descriptor's /proc/self/fd name, which names that inode only.

    Raises:
        OSError: it cannot be opened or changed; ELOOP: a symlink stands where it was made.
    """
    if at.follow:  # an inode opened as itself already
        os.chmod(at.name, mode)
        return
    target = os.open(at.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at.fd)
    try:
        if stat.S_ISLNK(os.fstat(target).st_mode):
            raise OSError(errno.ELOOP, "a symlink stands where it was restored (not followed)")
        os.chmod(b"/proc/self/fd/%d" % target, mode)
    finally:
        os.close(target)


def _set_times(at: _Place, atime_ns: int, mtime_ns: int) -> None:
    """Set an entry's access and modification times (not following a symlink). os.utime takes
    nanoseconds as a 64-bit count, which ends in 2262: a file dated 2400 (a real ext4 or
    tmpfs file; ext4 keeps times to 2446) was restored with the time of the restore, a
    warning, and a restore drill that called the repository damaged. Beyond that count the
    times go to utimensat as seconds and nanoseconds, as the kernel takes them.

    Raises:
        OSError: the kernel refused them (EINVAL, EPERM, ...).
    """
    fd, name = at.fd, at.name
    if nodes.NS_MIN <= atime_ns <= nodes.NS_MAX and nodes.NS_MIN <= mtime_ns <= nodes.NS_MAX:
        os.utime(name, ns=(atime_ns, mtime_ns), dir_fd=fd, follow_symlinks=at.follow)
        return
    import ctypes  # only a restore that meets such a time pays for the import

    class Timespec(ctypes.Structure):
        _fields_ = (("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_long))

    times = (Timespec * 2)(*(Timespec(*divmod(t, 1_000_000_000)) for t in (atime_ns, mtime_ns)))
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, at_symlink_nofollow = -100, 0x100  # linux/fcntl.h
    flags = 0 if at.follow else at_symlink_nofollow
    if libc.utimensat(at_fdcwd if fd is None else fd, name, times, flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    # A file system keeps times up to a limit of its own (ext4 2446, XFS without bigtime
    # 2038) and Linux clamps what is beyond it without an error: said, not taken for done
    kept = os.stat(name, dir_fd=fd, follow_symlinks=at.follow)
    for what, wanted, got in (
        ("mtime", mtime_ns, kept.st_mtime_ns),
        ("atime", atime_ns, kept.st_atime_ns),
    ):
        if got != wanted:
            msg = f"{what} {wanted} ns is beyond what this file system keeps (it kept {got})"
            raise OSError(errno.ERANGE, msg)


def _setxattr(at: _Place, key: bytes, value: bytes) -> None:
    """Set one extended attribute. One the file system or the caller's privileges do not
    allow (ENOTSUP: a file system without them; EPERM: a trusted.* name when not root) is an
    error like any other: the file's warning line names it (a dropped ACL widens access;
    restic drops them without a word).

    There is no setxattr relative to a directory descriptor: a deep entry is named through
    /proc/self/fd (Linux), a short path of its own.
    """
    path = at.name if at.fd is None else b"/proc/self/fd/%d/%s" % (at.fd, at.name)
    os.setxattr(path, key, value, follow_symlinks=at.follow)
