"""The s3vault exception hierarchy and the exit code each error maps to.

    S3VaultError (1)                      anything s3vault raises on purpose
    ├── UsageError (2)                    bad option values, bad snapshot ids
    ├── RepositoryNotFoundError (10)      no repository at the URL
    ├── NotARepositoryError (10)          something is there, but not an s3vault repository
    ├── KeyError_ (12) → WrongPasswordError, NoKeyError, PutOnlyKeyError (it only writes)
    ├── IntegrityError (13)               an object failed authentication or a hash check
    │   └── RevokedWriterError (13)       stored by a removed put-only key after its removal
    ├── BackendError (1)                  storage failed
    │   ├── ObjectNotFoundError (1)       a named object does not exist
    │   ├── ObjectExistsError (1)         a create-only put found the object already there
    │   ├── AccessDeniedError (1)         the store refused: read-only mount, file permissions,
    │   │                                 a credential without that right (S3 AccessDenied)
    │   ├── TransientBackendError (14)    worth retrying (timeouts, 5xx, throttling)
    │   └── BackendUnavailableError (14)  still failing after retries
    ├── FormatVersionError (1)            written by a newer s3vault
    ├── RestoreError (1)                  restore could not write a file (disk full, permissions)
    ├── MountError (1)                    mount: FUSE, libfuse3 or the binding is missing, or
    │                                     the kernel refused the mount
    └── ReportError (1)                   report: the plotting library (the report extra) is missing

Every class carries ``exit_code``; the CLI maps exceptions to codes in exactly one place
(``cli/__init__.py``), which also decides exit 3 (a backup with unreadable sources) and 130
(SIGINT/SIGTERM); 11 (a lease held elsewhere) arrives with maintenance leases. Messages say
what failed, where, and what to do next.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes (docs/exit-codes.md)."""

    OK = 0
    FATAL = 1
    USAGE = 2
    PARTIAL = 3
    NO_REPOSITORY = 10
    LOCKED = 11
    WRONG_PASSWORD = 12
    DAMAGED = 13
    STORAGE_UNAVAILABLE = 14
    INTERRUPTED = 130


# What a run that ended with a code and no error says in its audit record (docs/usage.md)
EXIT_MEANINGS: dict[int, str] = {
    ExitCode.OK: "ok",
    ExitCode.FATAL: "failed",
    ExitCode.USAGE: "usage error",
    ExitCode.PARTIAL: "completed with warnings",
    ExitCode.NO_REPOSITORY: "no repository",
    ExitCode.LOCKED: "lock or lease held",
    ExitCode.WRONG_PASSWORD: "wrong password or no key",
    ExitCode.DAMAGED: "damage or mismatch found",
    ExitCode.STORAGE_UNAVAILABLE: "storage unreachable",
    ExitCode.INTERRUPTED: "interrupted",
}


# From least to most severe: a run of several commands (``s3vault run``) exits with the most
# severe code of its steps.
SEVERITY = (
    ExitCode.OK,
    ExitCode.PARTIAL,
    ExitCode.LOCKED,
    ExitCode.DAMAGED,
    ExitCode.STORAGE_UNAVAILABLE,
    ExitCode.NO_REPOSITORY,
    ExitCode.WRONG_PASSWORD,
    ExitCode.USAGE,
    ExitCode.FATAL,
    ExitCode.INTERRUPTED,
)


def worst_exit_code(codes: list[int]) -> int:
    """The most severe of several exit codes (0 for none; an unknown code counts as fatal)."""
    rank = {int(c): i for i, c in enumerate(SEVERITY)}
    return max(codes, key=lambda c: rank.get(c, rank[ExitCode.FATAL]), default=0)


class S3VaultError(Exception):
    """Base class of every error s3vault raises on purpose."""

    exit_code: ExitCode = ExitCode.FATAL


def restated(exc: S3VaultError, message: str) -> S3VaultError:
    """``message`` in place of what ``exc`` said, with its exit code: a step that failed
    after others had changed the repository, said with what they changed (``raise
    restated(exc, ...) from exc``)."""
    said = S3VaultError(message)
    said.exit_code = exc.exit_code
    return said


class UsageError(S3VaultError):
    """The caller asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class RepositoryNotFoundError(S3VaultError):
    """There is no repository at the given location."""

    exit_code = ExitCode.NO_REPOSITORY


class NotARepositoryError(S3VaultError):
    """The location exists but does not hold an s3vault repository."""

    exit_code = ExitCode.NO_REPOSITORY


class KeyError_(S3VaultError):
    """No key file could be opened."""

    exit_code = ExitCode.WRONG_PASSWORD


class WrongPasswordError(KeyError_):
    """The password opens none of the repository's key files."""


class NoKeyError(KeyError_):
    """No password (or other key material) was supplied."""


class NoPasswordError(NoKeyError):
    """No password source at all (no flag, variable, terminal or KMS key file): the CLI adds
    restic's variables that are set and not read."""


class PutOnlyKeyError(KeyError_):
    """The secret opens a put-only key, which writes backups and reads nothing (design.md
    §6a): every command that reads refuses it; ``backup`` opens it as a put-only host."""


class IntegrityError(S3VaultError):
    """An object failed authentication, a hash check or a structural check."""

    exit_code = ExitCode.DAMAGED


class RevokedWriterError(IntegrityError):
    """A version 2 object sealed by a removed put-only key and stored after its removal
    (design.md §6a, revocation by store time): refused as forged. Unlike other damage, what
    it describes is known to be untrusted: prune passes such an index file over (its packs
    are garbage) instead of refusing to run."""


class BackendError(S3VaultError):
    """The storage backend failed."""


# What a store says of an object its storage class has archived (S3 GLACIER, DEEP_ARCHIVE):
# intact, but unreadable until restored. Readers name it so, never as damage to repair.
ARCHIVED = "the object is archived"


class ObjectNotFoundError(BackendError):
    """The named object does not exist."""


class NotAnObjectError(IntegrityError, BackendError):
    """Where an object is stored, a local directory holds something else (a directory, a
    FIFO, a device): damage (exit 13), and a read that fails as a store's would, so that a
    reader of many objects names it and goes on (verify --read-data stopped at a pack that
    was a FIFO: an attack pass, 2026-12-07)."""


class NoSuchBucketError(BackendError):
    """The bucket of the repository's URL does not exist: there is no repository there."""

    exit_code = ExitCode.NO_REPOSITORY


class ObjectExistsError(BackendError):
    """A create-only put found an object already stored under that name."""


class AccessDeniedError(BackendError):
    """The store refused the request for lack of permission: a read-only file system or mount,
    a directory this user may not write, a credential that may only read (S3 AccessDenied).
    Permanent: retrying cannot help, and a command that only reads still can."""


class VersionMismatchError(BackendError):
    """A compare-and-swap replace found another version than the one it expected."""


class LeaseHeldError(S3VaultError):
    """Another process holds the maintenance lease."""

    exit_code = ExitCode.LOCKED


class LeaseLostError(S3VaultError):
    """This process could not keep its lease; it stopped before changing anything more."""

    exit_code = ExitCode.LOCKED


class UnsupportedOperationError(BackendError):
    """The store does not offer this operation (for example compare-and-swap on Swift)."""


class TransientBackendError(BackendError):
    """A failure that is worth retrying: timeouts, 5xx, throttling."""

    exit_code = ExitCode.STORAGE_UNAVAILABLE


class BackendUnavailableError(BackendError):
    """Storage could not be reached, even after retries."""

    exit_code = ExitCode.STORAGE_UNAVAILABLE


# The store refused a read, did not answer, or has no such bucket any more: they say nothing
# about the object (verify leaves it unchecked, never damaged; restore stops); any other storage
# error while reading an object is damage to verify (a missing object, an object the store will
# not serve as stored: archived, re-keyed).
STORE_REFUSALS = (
    AccessDeniedError,
    TransientBackendError,
    BackendUnavailableError,
    NoSuchBucketError,
)


# This process may open no more files (``ulimit -n``, or the system's table): never one file's
# or one entry's problem. Raised as it is, it ends the command with its own message (cli: too
# many open files, raise the limit), never as a file skipped (a backup's exit 3, which a
# timer takes for success) or, in a drill, as a file that "differs from the snapshot".
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def out_of_memory_message(more: str = "") -> str:
    """What a command says when the host's memory or its address space limit (``ulimit -v``)
    ran out (``more``: a further remedy), by the CLI's error handling and, before it can be
    loaded, by the command's launcher (s3vault/__main__.py)."""
    return (
        f"out of memory (address space limit, ulimit -v: {address_space_limit()}): raise the "
        f"limit or free memory{more}"
    )


def address_space_limit() -> str:
    """This process's address space limit, as said ("no limit", "N MiB", "unknown")."""
    limit = address_space_bytes()
    if limit is None:
        return "unknown"
    return "no limit" if limit < 0 else f"{limit >> 20} MiB"


def address_space_bytes() -> int | None:
    """This process's soft address space limit in bytes (-1: none; None: unknown), from /proc:
    so short of memory, not even the ``resource`` module may load (a clean clone's run,
    16 MiB)."""
    try:
        with open("/proc/self/limits", encoding="ascii") as limits:
            for line in limits:
                if line.startswith("Max address space"):
                    soft = line.split()[3]
                    return -1 if soft == "unlimited" else int(soft)
    except (OSError, ValueError, IndexError, MemoryError):
        pass
    return None


def raise_if_out_of_descriptors(exc: OSError) -> None:
    """Raise ``exc`` again when it says this process ran out of file descriptors.

    Raises:
        OSError: ``exc``, when its errno is EMFILE or ENFILE.
    """
    if exc.errno in OUT_OF_DESCRIPTORS:
        raise exc


class FormatVersionError(S3VaultError):
    """The repository or an object was written by a newer, incompatible s3vault."""


class RestoreError(S3VaultError):
    """Restore could not write to the target (disk full, permission, unsafe path)."""


class MountError(S3VaultError):
    """``mount`` cannot serve: FUSE (/dev/fuse), libfuse3 (the fuse3 package) or the Python
    binding (the ``mount`` extra) is missing, or the mount itself failed."""


class ReportError(S3VaultError):
    """``report`` cannot draw: the plotting library (the ``report`` extra) is missing."""
