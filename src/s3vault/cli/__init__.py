"""The s3vault command line: a thin click + rich layer over the library API.

THE exception → exit-code mapping lives here (``main``), and nowhere else.

Exit codes: 0 success; 1 fatal error; 2 usage error; 3 snapshot made but some source files could
not be read; 10 repository does not exist; 11 lock or lease held; 12 wrong password or no key;
13 damage or mismatch found; 14 storage unreachable after retries; 130 interrupted.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import signal
import socket
import sys
import traceback
from pathlib import Path
from types import FrameType

import click

from s3vault import __version__
from s3vault.cli.commands import COMMANDS
from s3vault.cli.context import CliContext
from s3vault.cli.options import global_options
from s3vault.cli.render import emit, emit_error
from s3vault.cli.session import backend_options
from s3vault.clock import SystemClock
from s3vault.errors import AccessDeniedError, ExitCode, S3VaultError

M_ARENA_MAX = -8  # glibc mallopt parameter

EPILOG = """\b
Exit codes:
  0 success               10 repository does not exist
  1 fatal error           11 lock or lease held by another process
  2 usage error           12 wrong password or no usable key
  3 snapshot made, but    13 verify/restore found damage or a mismatch
    some files unreadable 14 storage unreachable after retries
                          130 interrupted (SIGINT/SIGTERM)
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s3vault")
@global_options
def cli() -> None:
    """s3vault: deduplicating, encrypted backups into S3 or a local directory."""


for _command in COMMANDS:
    cli.add_command(_command)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _fail(ctx: CliContext, message: str, code: int) -> int:
    if ctx.json:
        emit_error(message, code)
    else:
        ctx.err.print(f"Fatal: {message}", markup=False)
    return code


def _with_way_out(message: str, code: int) -> str:
    """Damage (exit 13) always comes with what to run: most messages say it themselves; the
    rest point at verify, which names the damage and the fix for each object."""
    if code != ExitCode.DAMAGED or "s3vault " in message:
        return message
    return (
        f"{message} (`s3vault verify` names what is damaged and what to run for it; "
        "docs/troubleshooting.md, 'When the repository is damaged')"
    )


def _limit_malloc_arenas() -> None:
    """Two malloc arenas instead of one per thread: the pipeline's threads pass megabyte
    buffers around, and per-thread arenas keep the freed ones, inflating the peak RSS by tens
    of MiB (measured in docs/performance.md). No effect where glibc's mallopt is missing."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass


def _record_audit(
    ctx: CliContext, code: int, failure: str, argv: list[str], error: S3VaultError | None
) -> None:
    """Append the audit record of a command that opened the repository and marked itself
    audited (not when the store is unreachable: the record could not be written either).
    Tried even when the store refused the command's own writes: a key may be allowed audit
    records and nothing else (a refused deletion is what an audit log is for). A failure to
    record is a warning (``_warn_unwritten``), never a different exit code; none when the
    command already failed because the store refuses writes (its error line says so)."""
    if ctx.audit is None or ctx.opened is None or code == ExitCode.STORAGE_UNAVAILABLE:
        return
    from s3vault.ops.audit import record

    try:
        record(
            ctx.opened,
            ctx.audit.operation,
            arguments=argv,
            exit_code=code,
            result="ok" if code in (ExitCode.OK, ExitCode.PARTIAL) else failure,
            details={**ctx.audit.details, "requests": dataclasses.asdict(ctx.opened.requests)},
            cache_dir=ctx.cache_path(),
        )
    except AccessDeniedError as exc:
        if not isinstance(error, AccessDeniedError):
            ctx.not_written("the audit record", str(exc))
    except S3VaultError as exc:
        ctx.not_written("the audit record", str(exc))


def _warn_unwritten(ctx: CliContext) -> None:
    """One warning line (one JSON warning with --json) for everything this command could not
    write beside its work: records the store refused, and the local cache. Records refused
    for the same reason are named together with the first one's message (a backend's
    message is ``<operation> <object>: <reason>``: the reason after the object is compared)."""
    whats: list[str] = []
    parts: list[str] = []
    by_reason: dict[str, tuple[str, list[str]]] = {}
    for what, why in ctx.unwritten.items():
        by_reason.setdefault(why.partition(": ")[2] or why, (why, []))[1].append(what)
    for why, names in by_reason.values():
        whats += names
        verb = "was" if len(names) == 1 else "were"
        parts.append(f"{' and '.join(names)} {verb} not written: {why}")
    problem = ctx.opened.cache_writes.problem if ctx.opened is not None else None
    if problem is not None:
        whats.append("the cache")
        parts.append(
            f"the cache was not written ({problem}): this run and the next are slower; "
            "use --cache-dir DIR (a writable directory) or --no-cache"
        )
    if parts:
        _warn(ctx, ", ".join(whats), "; ".join(parts))


def _warn(ctx: CliContext, item: str, message: str) -> None:
    """A warning after the command: a JSON warning object with --json, else a stderr line."""
    if ctx.json:
        emit(ctx, "warning", item=item, message=message)
    else:
        ctx.err.print(f"warning: {message}", markup=False)


def _command_of(args: list[str]) -> str:
    """The command an argument list runs (its first word that names one)."""
    return next((a for a in args if a in cli.commands), "")


def _write_metrics(ctx: CliContext, code: int, args: list[str], duration: float) -> None:
    """--metrics-file: this command's figures as Prometheus textfile metrics (a failure to
    write them is a warning, never a different exit code)."""
    command = _command_of(args)
    if not command or not (ctx.metrics_file or ctx.cloudwatch_namespace):
        return
    labels = {
        "command": command,
        "profile": ctx.profile.name if ctx.profile is not None else "",
        "host": socket.gethostname(),
        "repository": ctx.repository,
    }
    values = ctx.metrics.values if ctx.metrics is not None else {}
    now = SystemClock().now().timestamp()
    if ctx.metrics_file:
        from s3vault.ops.metrics import write_textfile

        try:
            write_textfile(
                Path(ctx.metrics_file), labels, values, exit_code=code, duration=duration, now=now
            )
        except OSError as exc:
            _warn(ctx, "metrics file", f"metrics not written to {ctx.metrics_file}: {exc}")
    if ctx.cloudwatch_namespace:
        from s3vault.cloud.cloudwatch import put_metrics

        figures = {
            "exit_code": float(code),
            "success": float(code in (ExitCode.OK, ExitCode.PARTIAL)),
            "duration_seconds": duration,
            **values,
        }
        dimensions = {k.capitalize(): v for k, v in labels.items()}
        try:
            put_metrics(ctx.cloudwatch_namespace, dimensions, figures, backend_options(ctx), now)
        except S3VaultError as exc:
            _warn(ctx, "CloudWatch metrics", f"CloudWatch metrics not sent: {exc}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``s3vault`` command."""
    _limit_malloc_arenas()
    signal.signal(signal.SIGTERM, _on_sigterm)
    ctx = CliContext()
    started = SystemClock().monotonic()
    code: int
    failure = "interrupted"
    error: S3VaultError | None = None
    try:
        result = cli.main(args=argv, prog_name="s3vault", standalone_mode=False, obj=ctx)
        code = result if isinstance(result, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        code = _fail(ctx, "interrupted", ExitCode.INTERRUPTED)
    except S3VaultError as exc:
        failure, error = _with_way_out(str(exc), exc.exit_code), exc
        code = _fail(ctx, failure, exc.exit_code)
    except Exception as exc:  # an s3vault bug: say so, show the traceback with -v
        if ctx.verbose:
            traceback.print_exc()
        failure = f"internal error: {type(exc).__name__}: {exc}"
        code = _fail(ctx, failure, ExitCode.FATAL)
    args = sys.argv[1:] if argv is None else argv
    _record_audit(ctx, int(code), failure, args, error)
    _warn_unwritten(ctx)
    _write_metrics(ctx, int(code), args, SystemClock().monotonic() - started)
    logging.shutdown()
    sys.exit(int(code))
