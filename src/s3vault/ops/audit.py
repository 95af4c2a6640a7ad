"""The audit log: record what a mutating operation did, list and verify the chains
(``s3vault audit``).

Every operation that changes the repository (and restore, verify and restore-test, whose
reads count) runs inside ``audited(repo, operation)`` and adds its details to the note it is
given. Called from Python, the record is appended when the operation ends: exit code 0 and
``ok``, or the error's exit code and message. Inside an ``invocation`` (the CLI opens one per
command), the operations of the run share one note (the first names the record, as forget
--prune is one "forget") and ``Invocation.finish`` appends it with the exit code of the whole
run. The invocation also collects the figures of the run (``measured``) for the metrics
(ops/metrics.py) and the records that could not be written (``not_written``).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from s3vault.clock import Clock, SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import EXIT_MEANINGS, AccessDeniedError, ExitCode, S3VaultError
from s3vault.format import codec
from s3vault.format.auditfile import AuditRecord
from s3vault.ops.whoami import user_name
from s3vault.repository.audit import Chain, LocalChains, append, read_chains
from s3vault.repository.repository import Repository
from s3vault.version import __version__

log = logging.getLogger(__name__)

SECRET_OPTIONS = frozenset({"--password-command"})  # their value may hold a secret
SCRUBBED = "<scrubbed>"


def scrub(arguments: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The command line with the values of secret-bearing options replaced."""
    out: list[str] = []
    hide_next = False
    for arg in arguments:
        if hide_next:
            out.append(SCRUBBED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in SECRET_OPTIONS:
            if eq:
                out.append(f"{name}={SCRUBBED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(arg)
    return tuple(out)


def _readable(details: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``details`` whose strings all encode: a path or a host name from the command
    line may hold bytes that are no UTF-8 (``codec.readable`` spells them ``\\xNN``); the
    record is written after the work is done, and must not fail on them."""
    top: list[Any] = [dict(details)]
    todo: list[tuple[Any, Any]] = [(top, 0)]
    while todo:
        box, key = todo.pop()
        value = box[key]
        if isinstance(value, str):
            box[key] = codec.readable(value)
        elif isinstance(value, dict):
            box[key] = value = {codec.readable(str(k)): v for k, v in value.items()}
            todo.extend((value, k) for k in value)
        elif isinstance(value, list | tuple):
            box[key] = value = list(value)
            todo.extend((value, i) for i in range(len(value)))
    result: dict[str, Any] = top[0]
    return result


def _local(repo: Repository, cache_dir: Path | None) -> LocalChains:
    key = repo.sealer.current.audit_key
    return LocalChains(cache_dir / repo.id.hex() if cache_dir else None, key, repo.location)


def record(
    repo: Repository,
    operation: str,
    *,
    arguments: list[str] | tuple[str, ...],
    exit_code: int,
    result: str,
    details: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
    clock: Clock | None = None,
) -> str:
    """Append an audit record for a command to this host's chain; returns its name.

    Raises:
        BackendError: the store refused.
    """
    entry = AuditRecord(
        seq=0,
        prev=None,
        time=(clock or SystemClock()).now(),
        hostname=socket.gethostname(),
        username=codec.readable(user_name()),
        operation=operation,
        key_id=repo.key_id.hex(),
        arguments=tuple(codec.readable(a) for a in scrub(arguments)),
        exit_code=exit_code,
        result=codec.readable(result),
        details=_readable(details or {}),
        program_version=__version__,
    )
    name, _ = append(repo, entry, _local(repo, cache_dir))
    return name


@dataclass(slots=True)
class AuditNote:
    """What an audited operation tells its record (details: sizes, ids)."""

    operation: str
    details: dict[str, Any] = field(default_factory=dict)
    outcome: tuple[int, str] | None = None  # a failure its result reports, nothing raised

    def found(self, code: int, result: str) -> None:
        """The operation returns a result that reports a failure (damage found: a restore's
        files not restored, a verify's findings): the record's exit code and result, the ones
        the CLI exits with, also when it is called from Python."""
        self.outcome = (int(code), result)

    def result_of(self, code: int) -> str:
        """What a run that ended with ``code`` and no error says: the operation's own words
        for that code, else the code's documented meaning."""
        if self.outcome is not None and self.outcome[0] == code:
            return self.outcome[1]
        return EXIT_MEANINGS.get(code, f"exit {code}")


@dataclass(slots=True)
class Measured:
    """The figures of a run for the metrics (ops/metrics.py), named after what measured them."""

    command: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Invocation:
    """One run of a caller that may span operations (a CLI command): its arguments for the
    audit record, the audited operation and its repository, its figures, and the records it
    could not write."""

    arguments: tuple[str, ...] = ()
    cache_dir: Path | None = None  # the local chain ends' directory (else the repository's)
    clock: Clock | None = None
    note: AuditNote | None = None  # the audited operation, if any
    repo: Repository | None = None  # where its record goes
    metrics: Measured | None = None
    unwritten: dict[str, str] = field(default_factory=dict)  # a record not stored → why

    def join(self, repo: Repository, operation: str, details: dict[str, Any]) -> AuditNote:
        """The note of this run: a new one for the first audited operation (or a new
        repository), the same one for the operations it runs (forget's prune)."""
        if self.note is None or self.repo is not repo:
            self.note = AuditNote(operation, dict(details))
            self.repo = repo
            self.measured(operation.split(maxsplit=1)[0])  # its figures, even if it fails
        else:
            self.note.details.update(details)
        return self.note

    def measured(self, command: str, **values: float) -> Measured:
        """Name the run's figures after ``command`` (a new command starts them afresh) and
        add ``values``."""
        if self.metrics is None or self.metrics.command != command:
            self.metrics = Measured(command)
        self.metrics.values.update(values)
        return self.metrics

    def not_written(self, what: str, why: str) -> None:
        """A record the run could not store (the drill record, the audit record)."""
        self.unwritten.setdefault(what, why)

    def finish(self, exit_code: int, result: str | None, error: S3VaultError | None = None) -> None:
        """Append the audit record of the run's audited operation, if one ran (not when the
        store is unreachable: the record could not be written either). Tried even when the
        store refused the operation's own writes: a key may be allowed audit records and
        nothing else. A failure to record is noted (``not_written``), except when the run
        already failed because the store refuses writes (its error says so)."""
        if self.note is None or self.repo is None or exit_code == ExitCode.STORAGE_UNAVAILABLE:
            return
        crash_point("before-audit-record")
        if result is None:  # ended with a code, no error: the operation's words for it
            result = self.note.result_of(exit_code)
        try:
            _append(self.repo, self.note, exit_code, result, self)
        except AccessDeniedError as exc:
            if not isinstance(error, AccessDeniedError):
                self.not_written("the audit record", str(exc))
        except S3VaultError as exc:
            self.not_written("the audit record", str(exc))


_CURRENT: ContextVar[Invocation | None] = ContextVar("s3vault_invocation", default=None)


@contextmanager
def invocation(
    arguments: list[str] | tuple[str, ...] = (),
    *,
    cache_dir: Path | None = None,
    clock: Clock | None = None,
) -> Iterator[Invocation]:
    """Run the operations of one caller's run inside it; the caller ends it with
    ``Invocation.finish`` (the CLI, with the command's exit code)."""
    current = Invocation(arguments=tuple(arguments), cache_dir=cache_dir, clock=clock)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


def measured(command: str, **values: float) -> None:
    """An operation's figures, for the metrics of the invocation it runs in (none outside)."""
    current = _CURRENT.get()
    if current is not None:
        current.measured(command, **values)


def not_written(what: str, why: str) -> None:
    """A record an operation could not store (and says in its result): noted in the
    invocation it runs in, for the caller's one warning line."""
    current = _CURRENT.get()
    if current is not None:
        current.not_written(what, why)


@contextmanager
def audited(repo: Repository, operation: str, **details: Any) -> Iterator[AuditNote]:
    """The audit context of an operation on ``repo``: the block adds its details to the note.
    Inside an invocation the record is the invocation's (``Invocation.finish``); outside one
    it is appended when the block ends (a failure to append is logged, never raised over the
    operation's own outcome)."""
    current = _CURRENT.get()
    if current is not None:
        yield current.join(repo, operation, details)
        return
    # Called from Python: a run of its own, so that the operations this one runs (forget's
    # prune) add to its record instead of writing their own.
    with invocation(cache_dir=repo.cache_dir) as run:
        code: int = ExitCode.INTERRUPTED
        result, error = "interrupted", None
        try:
            note = run.join(repo, operation, details)
            yield note
            code, result = note.outcome or (ExitCode.OK, "ok")
        except S3VaultError as exc:
            code, result, error = exc.exit_code, str(exc), exc
            raise
        except Exception as exc:
            code, result = ExitCode.FATAL, f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            run.finish(code, result, error)
            for what, why in run.unwritten.items():
                log.warning("%s was not written: %s", what, why)


def _append(repo: Repository, note: AuditNote, exit_code: int, result: str, run: Invocation) -> str:
    details = {**note.details, "requests": dataclasses.asdict(repo.requests)}
    return record(
        repo,
        note.operation,
        arguments=run.arguments,
        exit_code=exit_code,
        result=result,
        details=details,
        cache_dir=run.cache_dir,
        clock=run.clock,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """Every host's chain, filtered for display; ``broken`` if any chain has a problem."""

    chains: list[Chain]
    records: list[AuditRecord]  # the selected records, oldest first

    @property
    def broken(self) -> bool:
        """Is any chain damaged?"""
        return any(c.problems for c in self.chains)


def audit_log(
    repo: Repository,
    *,
    host: str | None = None,
    since: datetime | None = None,
    cache_dir: Path | None = None,
) -> AuditReport:
    """Read and verify every chain (all hosts, always), and select records to show."""
    chains = read_chains(repo, _local(repo, cache_dir))
    selected = [
        r
        for c in chains
        for r in c.records
        if (host is None or r.hostname == host) and (since is None or r.time >= since)
    ]
    selected.sort(key=lambda r: (r.time, r.hostname, r.seq))
    return AuditReport(chains=chains, records=selected)
