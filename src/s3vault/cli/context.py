"""CliContext: the global options of one invocation, shared by every command (ctx.obj)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from s3vault import Invocation


def console(*, stderr: bool) -> Console:
    """A console for stdout or stderr. ``emoji=False``: ":smile:" in a file name, tag or
    message is shown as typed. A size below one column or line in the environment (COLUMNS=0)
    is taken as none given, as shutil takes it: rich printed every line in no columns, so
    nothing at all, errors included."""
    measured = shutil.get_terminal_size()  # the terminal's, or 80 x 24 (COLUMNS=0: ignored)
    width, height = (
        measured.columns if _below_one("COLUMNS") else None,
        measured.lines if _below_one("LINES") else None,
    )
    return Console(
        stderr=stderr, highlight=False, soft_wrap=True, emoji=False, width=width, height=height
    )


def _below_one(name: str) -> bool:
    given = os.environ.get(name, "").strip()
    return given.isdigit() and int(given) < 1


@dataclass(slots=True)
class CliContext:
    """Global options (accepted before or after the command name) and the output consoles."""

    repo: str | None = None
    repository_file: str | None = None
    password_file: str | None = None
    password_command: str | None = None
    recovery_key_file: str | None = None
    key_hint: str | None = None
    kms: bool | None = None
    json: bool = False
    # stdout is not message lines (restic's one JSON array, dump's data): JSON warnings go to
    # stderr
    stdout_array: bool = False
    quiet: bool = False
    verbose: int = 0
    cache_dir: str | None = None
    no_cache: bool = False
    limit_upload: int | None = None
    limit_download: int | None = None
    s3_endpoint: str | None = None
    cacert: str | tuple[str, ...] | None = None  # --cacert (each given), a profile's one
    insecure_tls: bool = False  # --insecure-tls
    tls_warned: bool = False  # the --insecure-tls warning is said once
    s3_region: str | None = None
    aws_profile: str | None = None
    s3_path_style: bool = False
    s3_checksum: str | None = None
    s3_storage_class: str | None = None
    s3_connections: int | None = None
    retry_deadline: float | None = None
    s3_sse: str | None = None
    s3_kms_key_id: str | None = None
    s3_bucket_owner: str | None = None
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    profile_name: str | None = None  # -P/--profile
    config_file: str | None = None  # --config
    metrics_file: str | None = None  # --metrics-file
    cloudwatch_namespace: str | None = None  # --cloudwatch-namespace
    # each global option given on the command line (not by the environment), as it was given:
    # (its name here, its words), for ``run`` to pass on to its steps
    given: list[tuple[str, list[str]]] = field(default_factory=list)
    profile: Any = None  # the loaded Profile (ops/profiles.py)
    opened: Any = None  # the Repository the command opened (for the cache's warning)
    read_from: Any = None  # another Repository it reads (copy's source): its doubts count
    waits: Any = None  # cli/progress.py Waits: says when this invocation waits
    invocation: Invocation = field(default_factory=Invocation)  # audit record, metrics
    out: Console = field(default_factory=lambda: console(stderr=False))
    err: Console = field(default_factory=lambda: console(stderr=True))

    def configure_logging(self) -> None:
        """-v: INFO, -vv: DEBUG, on stderr. The library only logs; the CLI decides where: on
        a terminal rich's log display, elsewhere (cron, journald, a pipe) plain lines: ISO 8601
        time with its offset, level, logger, message, no ANSI. With --json each record is a
        JSON object on stderr (``warning``, or ``log`` below a warning). Without
        -v the library's warnings still reach stderr: ``warning: ...`` lines, or JSON; they
        were bare lines (Python's last-resort handler), with --json too, which broke a
        parser reading one object a line (an attack pass, 2026-12-07)."""
        handler: logging.Handler
        if self.json:
            handler = _JsonRecords(self)
        elif self.verbose <= 0:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("warning: %(message)s"))
        elif sys.stderr.isatty():
            from rich.logging import RichHandler

            handler = RichHandler(console=self.err, show_path=self.verbose > 1, markup=False)
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        if not self.json:  # JSON escapes what a terminal would act on; a line must
            handler.addFilter(_printable_record)
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
        levels = {0: logging.WARNING, 1: logging.INFO}
        root.setLevel(levels.get(max(self.verbose, 0), logging.DEBUG))

    @property
    def repository(self) -> str:
        """-r/--repo or --repository-file, else $S3VAULT_REPOSITORY or $S3VAULT_REPOSITORY_FILE
        (a URL given two ways at the same level is refused, as restic does).

        Raises:
            UsageError: both ways given, or the file cannot be read or is empty.
        """
        from s3vault import UsageError

        if self.repo and self.repository_file:
            raise UsageError("-r/--repo and --repository-file: give one")
        if self.repo or self.repository_file:
            return self.repo or _first_line(self.repository_file or "")
        url, path = os.environ.get("S3VAULT_REPOSITORY"), os.environ.get("S3VAULT_REPOSITORY_FILE")
        if url and path:
            raise UsageError("S3VAULT_REPOSITORY and S3VAULT_REPOSITORY_FILE are both set: set one")
        return url or (_first_line(path) if path else "")

    @property
    def interactive(self) -> bool:
        """Progress bars only on a terminal, never with --json or --quiet."""
        return sys.stdout.isatty() and not self.json and not self.quiet

    def cache_path(self) -> Path | None:
        """--cache-dir, else $XDG_CACHE_HOME/s3vault or ~/.cache/s3vault; None with --no-cache."""
        if self.no_cache:
            return None
        if self.cache_dir:
            return Path(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "s3vault"


def _first_line(path: str) -> str:
    """The repository URL a --repository-file holds (its first line, stripped)."""
    from s3vault import UsageError

    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"repository file {path}: {getattr(exc, 'strerror', None) or exc}"
        raise UsageError(msg) from None
    if not line:
        raise UsageError(f"repository file {path} is empty")
    return line


def _printable_record(record: logging.LogRecord) -> bool:
    """A record's message with its control characters escaped (render.printable): a name
    the library logs is a store's or a host's, and "ignoring foreign object" printed an
    object named with ESC sequences and line breaks raw to the terminal (an attack pass,
    2026-12-08)."""
    from s3vault.cli.render import printable

    record.msg, record.args = printable(record.getMessage()), None
    return True


class _JsonRecords(logging.Handler):
    """Log records as JSON objects on stderr, one a line (stdout keeps the command's own
    messages, its result last): a warning as ``warning`` (``item``: the logger), a record
    below a warning (-v) as ``log`` (``level``, ``logger``, ``message``)."""

    def __init__(self, ctx: CliContext) -> None:
        super().__init__()
        self._ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        from s3vault.cli.render import json_line, to_jsonable

        try:
            fields: dict[str, object] = {"message": record.getMessage()}
            if record.levelno >= logging.WARNING:
                obj = {"message_type": "warning", "item": record.name, **fields}
            else:
                level = record.levelname.lower()
                obj = {"message_type": "log", "level": level, "logger": record.name, **fields}
            sys.stderr.write(json_line(to_jsonable(obj), sys.stderr))
            sys.stderr.flush()
        except Exception:  # logging's contract: a record never raises
            self.handleError(record)


class _PlainFormatter(logging.Formatter):
    """Log lines for files and pipes: the time in ISO 8601 with milliseconds and offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import datetime

        return (
            datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")
        )
