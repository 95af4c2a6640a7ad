"""LocalBackend: a repository in a local directory.

put = write a temporary file in the target directory, fsync it, hard-link it to its final name
(``link`` fails if the name exists, which makes the create exclusive and atomic), remove the
temporary name, fsync the directory. A crash leaves at most a ``.tmp-*`` file, which ``list``
ignores, ``temporaries`` yields and a prune removes once it is older than its grace period.

replace (leases only) = write a temporary file, then ``rename`` over the target while holding
an exclusive ``flock`` on ``<root>/.cas-lock``; the version is (mtime ns, inode, size), which a
rename always changes. ``modified`` and ``server_time`` are the file system's clock (the same
host's clock, or the file server's on a network file system: ``server_time`` stamps a probe
file to read it).

Nothing in an object's place is left out of a listing: a listing that omits a snapshot file
would let a prune delete what it references. A directory named like an object (its name
starts with an id's 64 hex digits: s3vault makes no such directory) and a symbolic link to
nothing are listed, and reading one is an IntegrityError (damage, exit 13) that names it;
other directories are the layout's (``data/ab/``, ``state/<tag>/``, ``locks/claims/``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from s3vault.backend.base import Guarantees, ObjectInfo
from s3vault.backend.capabilities import NO_CAPABILITIES, Capabilities
from s3vault.clock import SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import (
    AccessDeniedError,
    BackendError,
    NotAnObjectError,
    NotARepositoryError,
    ObjectExistsError,
    ObjectNotFoundError,
    S3VaultError,
    VersionMismatchError,
)

TMP_PREFIX = ".tmp-"
# This host may not write here: a read-only mount, a directory it may only read
_MAY_NOT_WRITE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_OBJECT_NAME = re.compile(r"[0-9a-f]{64}")  # an id's hex digits open every id-named object


def _info(name: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        name=name,
        size=st.st_size,
        modified=st.st_mtime,
        version=f"{st.st_mtime_ns:x}-{st.st_ino:x}-{st.st_size:x}",
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class LocalBackend:
    """Objects as files under a root directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made_dirs: set[Path] = set()

    @property
    def location(self) -> str:
        """The directory."""
        return str(self._root)

    @property
    def remote(self) -> bool:
        """A directory: reads are cheap, small ranges keep memory low."""
        return False

    @property
    def root(self) -> Path:
        """The repository directory."""
        return self._root

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") or p.startswith(TMP_PREFIX) for p in parts):
            msg = f"invalid object name {name!r}"
            raise BackendError(msg)
        return self._root.joinpath(*parts)

    def _error(self, exc: OSError, what: str, path: Path) -> S3VaultError:
        """The one translation of OSError: a refused write (read-only file system, no
        permission) is an AccessDeniedError that says what the repository allows here."""
        if exc.errno == errno.ENOSPC:
            return BackendError(f"no space left on device while {what} {path}")
        if exc.errno == errno.EROFS:
            return AccessDeniedError(
                f"{what} {path}: read-only file system: {self._root} can only be read here "
                "(a read-only mount); commands that only read it work, run this one where it "
                "is mounted read-write"
            )
        if exc.errno in (errno.EACCES, errno.EPERM):
            right = "read" if what in ("reading", "listing") else "write"
            return AccessDeniedError(
                f"{what} {path}: permission denied: this user may not {right} {self._root}; "
                f"run as a user who may, or change its permissions"
            )
        if exc.errno == errno.ENOTDIR and (in_the_way := self._file_in_the_way()):
            return in_the_way
        return BackendError(f"{what} {path}: {exc.strerror or exc}")

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Create-only, atomic, durable write."""
        path = self._path(name)
        parent = path.parent
        tmp = parent / (TMP_PREFIX + os.urandom(8).hex())
        try:
            if parent not in self._made_dirs:
                parent.mkdir(parents=True, exist_ok=True)
                self._made_dirs.add(parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ObjectExistsError(f"{name} already exists in {self._root}") from None
            _fsync_dir(parent)
        except OSError as exc:
            raise self._error(exc, "writing", path) from None
        finally:
            _discard(tmp)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read (a range of) an object."""
        path = self._path(name)
        try:
            # O_NONBLOCK: a FIFO where an object should be opened without a writer (a FIFO
            # named config above a new repository hung init: an attack pass, 2026-12-07)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb", buffering=0) as f:
                kind = stat.S_IFMT(os.fstat(fd).st_mode)
                if kind != stat.S_IFREG:  # a FIFO, a device: no end, or none to wait for
                    raise self._not_an_object(name, path, _KINDS.get(kind, "not a file"))
                if length is None:
                    f.seek(offset)
                    return f.read()
                return os.pread(fd, length, offset)
        except FileNotFoundError:
            raise self._missing(name, path) from None
        except IsADirectoryError:
            raise self._not_an_object(name, path, "a directory") from None
        except NotADirectoryError:
            raise self._below_a_file(name, path) from None
        except OSError as exc:
            raise self._error(exc, "reading", path) from None

    def _below_a_file(self, name: str, path: Path) -> S3VaultError:
        """A path through a file: the repository's own, or one above it (``-r`` names a file,
        or a path below one: exit 10, as a directory holding no repository), or a directory
        of the repository that is a file (damage)."""
        return self._file_in_the_way() or self._not_an_object(name, path, "below a file")

    def _file_in_the_way(self) -> NotARepositoryError | None:
        """The error for a repository path that is, or lies below, something else than a
        directory; None when there is no such thing."""
        for place in (self._root, *self._root.parents):
            if place.exists() and not place.is_dir():
                if place == self._root:
                    return NotARepositoryError(f"{place} is a file, not a repository directory")
                return NotARepositoryError(
                    f"{place} is a file, not a directory: no repository can be at {self._root}"
                )
        return None

    def _missing(self, name: str, path: Path) -> S3VaultError:
        if os.path.islink(path):
            return self._not_an_object(name, path, "a symbolic link to nothing")
        return ObjectNotFoundError(f"{name} not found in {self._root}")

    def _not_an_object(self, name: str, path: Path, what: str) -> NotAnObjectError:
        return NotAnObjectError(
            f"{name}: {path} is {what}, not an object: the repository directory is damaged "
            "there (no s3vault writes one: move it out of the repository directory and run "
            "the command again; then `s3vault verify` names anything missing)"
        )

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object."""
        path = self._path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise self._missing(name, path) from None
        except OSError as exc:
            raise self._error(exc, "reading", path) from None
        if stat.S_ISDIR(st.st_mode):
            raise self._not_an_object(name, path, "a directory")
        return _info(name, st)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose name starts with ``prefix``."""
        top, _, _ = prefix.partition("/")
        start = self._root / top if top else self._root
        if not start.exists():
            return
        try:
            for dirpath, dirs, files in os.walk(start, onerror=_raise):
                rel = Path(dirpath).relative_to(self._root).as_posix()
                in_place = [d for d in dirs if _OBJECT_NAME.match(d)]  # listed, not entered
                dirs[:] = [d for d in dirs if d not in in_place]
                for fname in (*files, *in_place):
                    if fname.startswith("."):
                        continue  # temporary files and the CAS lock
                    name = fname if rel == "." else f"{rel}/{fname}"
                    if name.startswith(prefix):
                        try:
                            st = _entry(os.path.join(dirpath, fname))
                        except FileNotFoundError:
                            continue  # deleted since the directory was read
                        yield _info(name, st)
        except OSError as exc:
            raise self._error(exc, "listing", start) from None

    def delete(self, name: str) -> None:
        """Remove an object (or an empty directory in its place: the damage ``list`` names)."""
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{name} not found in {self._root}") from None
        except IsADirectoryError:
            try:
                path.rmdir()
            except OSError:
                msg = (
                    f"deleting {path}: a directory in an object's place, and not empty: "
                    "look at what it holds, then remove it by hand"
                )
                raise BackendError(msg) from None
        except OSError as exc:
            raise self._error(exc, "deleting", path) from None

    def delete_many(self, names: Sequence[str]) -> None:
        """One delete after another; names already gone are fine."""
        for name in names:
            with contextlib.suppress(ObjectNotFoundError):
                self.delete(name)
            crash_point("mid-delete")

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Compare-and-swap overwrite under an exclusive flock."""
        path = self._path(name)
        tmp = path.parent / (TMP_PREFIX + os.urandom(8).hex())
        try:
            lock_fd = os.open(self._root / ".cas-lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                current = self.stat(name)
                if current.version != version:
                    msg = f"{name} changed (expected version {version})"
                    raise VersionMismatchError(msg)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, path)
                _fsync_dir(path.parent)
                return self.stat(name)
            finally:
                os.close(lock_fd)
        except OSError as exc:
            raise self._error(exc, "replacing", path) from None
        finally:
            _discard(tmp)

    @property
    def guarantees(self) -> Guarantees:
        """Atomic create-only writes and compare-and-swap."""
        return Guarantees()

    @property
    def capabilities(self) -> Capabilities:
        """None beyond the contract."""
        return NO_CAPABILITIES

    def server_time(self) -> float:
        """The file system's clock: stamp a probe file and read its mtime. Where this host
        may not write (a read-only mount, a directory it may only read), this host's clock:
        whoever asks only reads (``prune --dry-run``, ``doctor``: an attack pass found both
        failing on the probe), and a write would be refused anyway."""
        probe = self._root / (TMP_PREFIX + "clock-" + os.urandom(8).hex())
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            probe.touch()
            return probe.stat().st_mtime
        except OSError as exc:
            if exc.errno in _MAY_NOT_WRITE and self._root.is_dir():
                return SystemClock().now().timestamp()
            raise self._error(exc, "stamping a clock probe in", self._root) from None
        finally:
            _discard(probe)

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Every ``.tmp-*`` file under the root (left by a killed write), by relative name."""
        if not self._root.exists():
            return
        try:
            for dirpath, _dirs, files in os.walk(self._root, onerror=_raise):
                rel = Path(dirpath).relative_to(self._root).as_posix()
                for fname in files:
                    if not fname.startswith(TMP_PREFIX):
                        continue
                    try:
                        st = os.stat(os.path.join(dirpath, fname))
                    except FileNotFoundError:
                        continue  # its write finished (or it was removed) meanwhile
                    yield _info(fname if rel == "." else f"{rel}/{fname}", st)
        except OSError as exc:
            raise self._error(exc, "listing", self._root) from None

    def delete_temporary(self, name: str) -> None:
        """Remove a ``.tmp-*`` file; refuses a name that is not one."""
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts) or not parts[-1].startswith(TMP_PREFIX):
            msg = f"{name!r} is not a temporary file"
            raise BackendError(msg)
        path = self._root.joinpath(*parts)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise self._error(exc, "deleting", path) from None


def _entry(path: str) -> os.stat_result:
    """What a listed path holds: its target's stat, or the link's own for a link to nothing."""
    st = os.lstat(path)
    return os.stat(path) if stat.S_ISLNK(st.st_mode) and os.path.exists(path) else st


def _raise(exc: OSError) -> None:
    raise exc


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """All of ``data``: a write that takes part of it (a disk filling up, a file size limit)
    is followed by one for the rest, which fails if the first stopped for a reason. A lease
    or key file written once by a short write was renamed into place cut off."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _discard(tmp: Path) -> None:
    """Remove a temporary file if it exists. Never raises: on a read-only file system the
    unlink fails (EROFS) though nothing was created, and a cleanup must not replace the error
    that stopped the write."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
