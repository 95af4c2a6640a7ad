"""The audit log as the commands use it: record what a mutating command did, list and verify
the chains (``s3vault audit``)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from s3vault.clock import Clock, SystemClock
from s3vault.format.auditfile import AuditRecord
from s3vault.repository.audit import Chain, LocalChains, append, read_chains
from s3vault.repository.repository import Repository
from s3vault.version import __version__

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


def _local(repo: Repository, cache_dir: Path | None) -> LocalChains:
    return LocalChains(cache_dir / repo.id.hex() if cache_dir else None)


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
        username=getpass.getuser(),
        operation=operation,
        key_id=repo.key_id.hex(),
        arguments=scrub(arguments),
        exit_code=exit_code,
        result=result,
        details=details or {},
        program_version=__version__,
    )
    name, _ = append(repo, entry, _local(repo, cache_dir))
    return name


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
