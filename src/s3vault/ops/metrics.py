"""Prometheus textfile metrics (node_exporter's textfile collector): one file per host, with
one series per (command, config profile, host, repository), rewritten atomically after every
command.

Written for every command: ``s3vault_last_run_timestamp_seconds``, ``s3vault_exit_code``,
``s3vault_duration_seconds`` and ``s3vault_last_success_timestamp_seconds`` (carried over from
the file when this run failed, so an alert on its age fires). Commands add their own figures
(backup: files and bytes read and added, errors, warnings, the repository's stored bytes;
verify: coverage and problems; restore-test: result, throughput, projected RTO; prune: bytes
freed and when it completed, ``last_prune_timestamp_seconds``, carried over as the last
success is, so that a later forget without --prune keeps it). A restore-test that failed before
it could judge (an error, a wrong password) counts as a failed drill: ``restore_test_passed``
0. The operations name their figures (``ops.audit.measured``); ``publish`` writes them where
the caller asked, with CloudWatch (cloud/cloudwatch.py) beside the textfile. The alerting
rules on these figures: docs/examples/alerts.yml and ``setup-alarms`` (cloud/alarms.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from s3vault.backend.location import BackendOptions
from s3vault.errors import ExitCode, S3VaultError
from s3vault.format import codec
from s3vault.outfile import resolved, special, write_output

HELP = {
    "last_run_timestamp_seconds": "When the command last ended (Unix time)",
    "last_success_timestamp_seconds": "When the command last succeeded (exit 0 or 3)",
    "exit_code": "Exit code of the last run",
    "duration_seconds": "How long the last run took",
    "files_processed": "Files the backup looked at",
    "bytes_processed": "Bytes of the files the backup looked at",
    "bytes_added": "New bytes stored by the backup (after deduplication and compression)",
    "errors": "Files or objects that could not be processed",
    "warnings": "Warnings of the last run",
    "snapshots_removed": "Snapshots forget removed",
    "bytes_freed": "Bytes prune deleted",
    "last_prune_timestamp_seconds": "When a prune of the repository last completed (Unix time)",
    "repository_bytes": "Bytes of the repository's packs after the backup (its stored size)",
    "verify_coverage_ratio": "Share of the stored data verify read back and checked",
    "verify_problems": "Problems verify found",
    "verify_proven_ratio": "Share of the stored bytes the ledger proves within the coverage period",
    "verify_unproven_bytes": "Stored bytes not proven within the coverage period",
    "verify_oldest_proof_age_seconds": "Age of the least recently proven pack's proof",
    "restore_test_passed": "1 if the last restore drill proved every byte and met its targets",
    "restore_test_bytes_per_second": "Restore throughput of the last drill",
    "restore_test_projected_rto_seconds": "Projected time to restore the whole snapshot",
    "restore_test_snapshot_age_seconds": "Age of the drilled snapshot (RPO)",
}
# kept from the file when this run has none (a verify without --coverage leaves the ledger's
# coverage as the last coverage run measured it; a verify that could not judge, a wrong
# password or a store down, leaves the damage the last one found: the alert stays)
CARRIED = (
    "last_prune_timestamp_seconds",
    "verify_problems",
    "verify_coverage_ratio",
    "verify_proven_ratio",
    "verify_unproven_bytes",
    "verify_oldest_proof_age_seconds",
)
_LINE = re.compile(r"^s3vault_(\w+)\{(.*)\} (\S+)$")


def _escape(value: str) -> str:
    """A label value as the text format carries it; bytes of a path that are no UTF-8 (Python's
    lone surrogates: a UnicodeEncodeError after the snapshot was saved) as ``\\xNN``."""
    value = codec.readable(value)
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))


def _read(path: Path) -> list[tuple[str, str, str]]:
    """(metric, labels text, value) of every sample in an existing file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            out.append((match.group(1), match.group(2), match.group(3)))
    return out


def write_textfile(
    path: Path,
    labels: Mapping[str, str],
    values: Mapping[str, float],
    *,
    exit_code: int,
    duration: float,
    now: float,
) -> None:
    """Replace this command's series in the file (keeping every other series) atomically, under
    an exclusive lock of ``.NAME.lock`` beside it: commands finishing at once each read the
    file the other wrote, so no series is lost (node_exporter reads only ``*.prom``). A path
    that is not a regular file (``/dev/null``, a FIFO) gets this command's series written into
    it, nothing read back, locked or replaced (s3vault/outfile.py).

    Raises:
        OSError: the directory cannot be written.
    """
    run = {"exit_code": exit_code, "now": now, "duration": duration}
    if special(path):
        write_output(path, _rewritten([], labels, values, **run))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(resolved(path)):  # one lock whatever link a writer names the file by
        write_output(path, _rewritten(_read(path), labels, values, **run))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``.NAME.lock`` beside ``path``."""
    lock = os.open(
        path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def _rewritten(
    before: list[tuple[str, str, str]],
    labels: Mapping[str, str],
    values: Mapping[str, float],
    **run: float,
) -> bytes:
    """The file's text with this run's series merged into the samples ``before`` (``run``:
    write_textfile's exit_code, duration and now)."""
    exit_code, duration, now = run["exit_code"], run["duration"], run["now"]
    mine = _labels(labels)
    samples = [s for s in before if s[1] != mine]
    previous = {m: v for m, lab, v in before if lab == mine}
    success = (
        now if exit_code in (0, 3) else float(previous.get("last_success_timestamp_seconds", 0))
    )
    figures = {
        **{name: float(previous[name]) for name in CARRIED if name in previous},
        "last_run_timestamp_seconds": now,
        "last_success_timestamp_seconds": success,
        "exit_code": float(exit_code),
        "duration_seconds": duration,
        **values,
    }
    samples += [(name, mine, repr(float(value))) for name, value in figures.items()]
    lines: list[str] = []
    for name in sorted({s[0] for s in samples}):
        lines.append(f"# HELP s3vault_{name} {HELP.get(name, name.replace('_', ' '))}")
        lines.append(f"# TYPE s3vault_{name} gauge")
        lines += [f"s3vault_{n}{{{lab}}} {v}" for n, lab, v in samples if n == name]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsTarget:
    """Where a run's metrics go: a Prometheus textfile, CloudWatch (a namespace), or both."""

    file: str | None = None  # the textfile's path
    cloudwatch_namespace: str | None = None
    backend: BackendOptions = field(default_factory=BackendOptions)  # CloudWatch's session


def publish(
    target: MetricsTarget,
    *,
    labels: Mapping[str, str],
    values: Mapping[str, float],
    exit_code: int,
    duration: float,
    now: float,
) -> list[tuple[str, str]]:
    """Write a run's figures (``labels``: command, config profile and repository; the host is added)
    to the textfile and to CloudWatch. Returns what could not be written, as (item,
    message): a failure here never changes the run's outcome."""
    labels = {**labels, "host": socket.gethostname()}
    labels = {k: labels[k] for k in ("command", "profile", "host", "repository") if k in labels}
    success = exit_code in (ExitCode.OK, ExitCode.PARTIAL)
    if labels.get("command") == "restore-test" and not success:
        values = {"restore_test_passed": 0.0, **values}  # a drill that failed did not pass
    problems: list[tuple[str, str]] = []
    if target.file:
        try:
            write_textfile(
                Path(target.file), labels, values, exit_code=exit_code, duration=duration, now=now
            )
        except OSError as exc:
            why = exc.strerror or str(exc)
            problems.append(("metrics file", f"metrics not written to {target.file}: {why}"))
    if target.cloudwatch_namespace:
        from s3vault.cloud.cloudwatch import REPOSITORY_FIGURES, put_metrics  # boto3 if used

        figures = {
            "exit_code": float(exit_code),
            "success": float(success),
            "duration_seconds": duration,
            **values,
        }
        if labels.get("command") == "backup":  # saved, something left out: its own alarm
            figures["partial"] = float(exit_code == ExitCode.PARTIAL)
        series = [
            ({k.capitalize(): v for k, v in labels.items()}, figures),
            (
                {"Repository": labels.get("repository", "")},
                {k: v for k, v in values.items() if k in REPOSITORY_FIGURES},
            ),
        ]
        try:
            put_metrics(target.cloudwatch_namespace, series, target.backend, now)
        except S3VaultError as exc:
            problems.append(("CloudWatch metrics", f"CloudWatch metrics not sent: {exc}"))
    return problems
