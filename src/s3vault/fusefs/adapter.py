"""Serve a ``SnapshotView`` through FUSE with mfusepy (the ``mount`` extra; libfuse3).

The only module that imports the binding, and only when called: without it, s3vault works and
``s3vault mount`` says in one line what to install. mfusepy was picked over pyfuse3 by
measurement and cost (docs/usage.md, "mount"): a 1 GiB file read through this package's view
at 390-700 MB/s with mfusepy, 175-440 MB/s with pyfuse3 (three alternating runs each), and
mfusepy is one pure-Python module on top of the system's libfuse3, where pyfuse3 is built
from source (a C compiler and libfuse3-dev on every machine that installs it) and needs trio.

Read-only: the mount has the ``ro`` option, so the kernel answers every write with EROFS
before it reaches us; open for writing is refused with EROFS too. Callbacks run on libfuse's
threads; the view is thread-safe. SIGINT, SIGTERM and SIGHUP end the loop through libfuse's
own handlers (installed for the time of the mount), which unmounts; ``serve`` then returns.
"""

from __future__ import annotations

import ctypes.util
import errno
import itertools
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

from s3vault.errors import MountError
from s3vault.fusefs.content import FileContent
from s3vault.fusefs.view import SnapshotView

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTALL = (
    "install the system package fuse3 (apt-get install fuse3) "
    "and the Python binding (pip install 's3vault[mount]')"
)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def load_binding() -> ModuleType:
    """The mfusepy module, bound to libfuse3 (mfusepy takes libfuse 2 first when both are
    installed, unless told otherwise).

    Raises:
        MountError: the binding, libfuse3 or /dev/fuse is missing (the message names what to
            install).
    """
    if not os.path.exists("/dev/fuse"):
        msg = (
            "mount needs FUSE, and /dev/fuse is missing: load the fuse kernel module "
            "(in a container: --device /dev/fuse --cap-add SYS_ADMIN), then " + INSTALL
        )
        raise MountError(msg)
    if "FUSE_LIBRARY_PATH" not in os.environ and ctypes.util.find_library("fuse3"):
        os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    try:
        import mfusepy
    except ImportError:
        msg = f"mount needs the Python FUSE binding mfusepy, which is not installed: {INSTALL}"
        raise MountError(msg) from None
    except (OSError, AttributeError) as exc:  # mfusepy found no usable libfuse
        msg = f"mount needs libfuse3 ({exc}): {INSTALL}"
        raise MountError(msg) from None
    module: ModuleType = mfusepy
    return module


def serve(
    binding: ModuleType,
    view: SnapshotView,
    mountpoint: str,
    *,
    allow_other: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Mount ``view`` at ``mountpoint`` and serve it until unmounted (a signal, ``umount``).
    ``on_ready`` is called once the mount is in place (libfuse's ``init``).

    Raises:
        MountError: libfuse could not mount (its reason is on stderr).
    """
    mounted: list[bool] = []

    def ready() -> None:
        mounted.append(True)
        if on_ready is not None:
            on_ready()

    ops = _operations(binding, view, ready)
    options: dict[str, Any] = {
        "foreground": True,
        "ro": True,
        "default_permissions": True,
        "fsname": "s3vault",
        "subtype": "s3vault",
    }
    if allow_other:
        options["allow_other"] = True
    with _libfuse_signals():
        try:
            binding.FUSE(ops, mountpoint, encoding="utf-8", errors="surrogateescape", **options)
        except RuntimeError as exc:
            if mounted:  # a signal ended the loop (libfuse reports it as an error): unmounted
                return
            msg = f"cannot mount at {mountpoint} (libfuse error {exc}); see the line above"
            raise MountError(msg) from None


@contextmanager
def _libfuse_signals() -> Iterator[None]:
    """Let libfuse install its handlers (it does only over the default ones), so a signal
    ends its loop and unmounts; the previous handlers come back after."""
    saved: dict[signal.Signals, Any] = {}
    try:
        for sig in SIGNALS:
            saved[sig] = signal.signal(sig, signal.SIG_DFL)
    except ValueError:  # not the main thread: leave the handlers alone
        pass
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _operations(  # long: one small method per FUSE callback
    binding: ModuleType, view: SnapshotView, on_ready: Callable[[], None]
) -> Any:
    fuse_error = binding.FuseOSError

    class Operations(binding.Operations):  # type: ignore[misc, name-defined]
        use_ns = True

        def __init__(self) -> None:
            self._files: dict[int, FileContent] = {}
            self._handles = itertools.count(1)

        def init(self, _path: str) -> None:
            on_ready()

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            entry = _call(fuse_error, view.lookup, view.split(path))
            return {
                "st_mode": entry.mode,
                "st_nlink": entry.nlink,
                "st_size": entry.size,
                "st_uid": entry.uid,
                "st_gid": entry.gid,
                "st_rdev": entry.rdev,
                "st_blocks": (entry.size + 511) // 512,
                "st_mtime": entry.mtime_ns,
                "st_atime": entry.atime_ns,
                "st_ctime": entry.ctime_ns,
            }

        def readdir(self, path: str, fh: int) -> list[str]:
            names = _call(fuse_error, view.listdir, view.split(path))
            return [".", "..", *(n.decode("utf-8", "surrogateescape") for n in names)]

        def readlink(self, path: str) -> str:
            target = _call(fuse_error, view.readlink, view.split(path))
            return target.decode("utf-8", "surrogateescape")

        def open(self, path: str, flags: int) -> int:
            if flags & os.O_ACCMODE != os.O_RDONLY:
                raise fuse_error(errno.EROFS)
            content = _call(fuse_error, view.open, view.split(path))
            fh = next(self._handles)
            self._files[fh] = content
            return fh

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            content = self._files.get(fh)
            if content is None:
                raise fuse_error(errno.EBADF)
            return _call(fuse_error, content.read, offset, size)

        def release(self, path: str, fh: int) -> int:
            self._files.pop(fh, None)
            return 0

        def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
            return _xattr(fuse_error, view, path, name)

        def listxattr(self, path: str) -> list[str]:
            found = _call(fuse_error, view.xattrs, view.split(path))
            return [n.decode("utf-8", "surrogateescape") for n in found]

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    return Operations()


def _xattr(fuse_error: Any, view: SnapshotView, path: str, name: str) -> bytes:
    """The value of the extended attribute ``name`` at ``path``; ENODATA where it has none."""
    value = _call(fuse_error, view.xattrs, view.split(path)).get(
        name.encode("utf-8", "surrogateescape")
    )
    if value is None:
        raise fuse_error(errno.ENODATA)
    return value


def _call(fuse_error: Any, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)``: its OSError as the FUSE error of the same errno; anything else (the
    store unreachable after retries, a bug) is logged and answered with EIO, so one failed
    call never ends the mount."""
    try:
        return func(*args)
    except OSError as exc:
        raise fuse_error(exc.errno or errno.EIO) from None
    except Exception as exc:
        log.warning("%s: %s: %s", getattr(func, "__name__", "call"), type(exc).__name__, exc)
        raise fuse_error(errno.EIO) from None
