"""Global options, accepted before or after the command name (``s3vault --json snapshots`` and
``s3vault snapshots --json`` are the same), as restic accepts them."""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import click
from click.core import ParameterSource

from s3vault import KeepDuration, TagList, UsageError, split_tags
from s3vault.cli.context import CliContext
from s3vault.cli.profile import apply_profile

F = TypeVar("F", bound=Callable[..., Any])

# --jobs above this is a typo, not a machine: 99999 ended in "Too many open files" (exit 1)
MAX_JOBS = 256


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        root = ctx.find_root()
        if root.obj is None:
            root.obj = CliContext()
        obj: CliContext = root.obj
        if name == "verbose":
            obj.verbose += value or 0
        elif isinstance(value, tuple):  # an option given more than once (--cacert): all of them
            if value:
                known = getattr(obj, name)
                before = known if isinstance(known, tuple) else ()
                setattr(obj, name, (*before, *value))
                obj.given.append((name, [_param.opts[-1], *value]))
        elif value is not None and value is not False:  # 0 is a value (--limit-upload 0)
            setattr(obj, name, value)
            if ctx.get_parameter_source(_param.name or "") is ParameterSource.COMMANDLINE:
                flag = isinstance(_param, click.Option) and _param.is_flag
                obj.given.append((name, [_param.opts[-1]] + ([] if flag else [str(value)])))
        return value

    return callback


class GlobalOption(click.Option):
    """An option every command takes (the global options): --help lists it after the
    command's own options, under "Global options", as restic's "Global Flags"."""


def _opt(*decls: str, name: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(
        *decls,
        cls=GlobalOption,
        callback=_store(name),
        expose_value=False,
        is_eager=True,
        **kwargs,
    )


def _format_options(
    command: click.Command, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    own: list[tuple[str, str]] = []
    shared: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            (shared if isinstance(param, GlobalOption) else own).append(record)
    if own:
        with formatter.section("Options"):
            formatter.write_dl(own)
    if isinstance(command, click.Group):
        command.format_commands(ctx, formatter)
    if shared:
        with formatter.section("Global options"):
            formatter.write_dl(shared)


def global_options_last(command: click.Command) -> None:
    """Make ``--help`` of ``command`` (and of every command below it) list its own options
    first and the global options in a section after them."""
    stack = [command]
    while stack:
        current = stack.pop()
        current.format_options = types.MethodType(_format_options, current)  # type: ignore[method-assign]
        if isinstance(current, click.Group):
            stack.extend(current.commands.values())


class OldSpellings(click.Option):
    """An option whose names after the first are earlier spellings: still accepted (scripts
    written for them keep working), never shown in --help."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        names, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = names

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{self.opts[0]}'"


def kdf_cost_option(help_text: str) -> Callable[[F], F]:
    """``--kdf-cost`` (earlier spelling ``--kdf-profile``, still accepted): the Argon2id cost
    preset of a new key file, as ``kdf_cost``."""
    return click.option(
        "--kdf-cost",
        "--kdf-profile",
        "kdf_cost",
        cls=OldSpellings,
        type=click.Choice(["default", "strong", "small", "minimum"]),
        default="default",
        show_default=True,
        help=help_text,
    )


class Finite(click.FloatRange):
    """A number in a range that is a number: ``nan`` and ``inf`` are refused (click's
    FloatRange lets NaN through every bound: ``--overdue-factor nan`` had switched the
    overdue alarm off, ``--days inf`` was an internal error)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


_GLOBALS = [
    _opt(
        "-P",
        "--profile",
        name="profile_name",
        metavar="NAME",
        help="Use this profile of the config file [env S3VAULT_PROFILE]",
    ),
    _opt(
        "--config",
        name="config_file",
        metavar="FILE",
        help="Config file [env S3VAULT_CONFIG; default ~/.config/s3vault/config.toml, then "
        "/etc/s3vault/config.toml]",
    ),
    _opt(
        "--metrics-file",
        name="metrics_file",
        metavar="PATH",
        help="Write Prometheus textfile metrics here after the command (atomically)",
    ),
    _opt(
        "--cloudwatch-namespace",
        name="cloudwatch_namespace",
        metavar="NS",
        help="Also put the command's metrics to CloudWatch under this namespace",
    ),
    _opt(
        "-r",
        "--repo",
        name="repo",
        metavar="URL",
        help="Repository: a path, file:PATH or s3://bucket/prefix (restic's "
        "s3:https://host/bucket/prefix too) [env S3VAULT_REPOSITORY]",
    ),
    _opt(
        "--repository-file",
        name="repository_file",
        metavar="FILE",
        help="Read the repository URL from FILE's first line [env S3VAULT_REPOSITORY_FILE]",
    ),
    _opt(
        "--password-file",
        name="password_file",
        metavar="FILE",
        help="Read the password from FILE [env S3VAULT_PASSWORD_FILE]",
    ),
    _opt(
        "--recovery-key-file",
        name="recovery_key_file",
        metavar="FILE",
        help="Open the repository with the recovery key in FILE instead of a password "
        "[env S3VAULT_RECOVERY_KEY_FILE]",
    ),
    _opt(
        "--key-hint",
        name="key_hint",
        metavar="ID",
        help="Try the key file with this id (or id prefix) first; by default the key that "
        "opened the repository last on this host [env S3VAULT_KEY_HINT]",
    ),
    _opt(
        "--kms",
        name="kms",
        is_flag=True,
        default=None,
        help="Open the repository through a KMS key file (AWS KMS decrypts; no password). "
        "Also tried when no password source is given and there is no terminal [env S3VAULT_KMS=1]",
    ),
    _opt(
        "--password-command",
        name="password_command",
        metavar="CMD",
        help="Run CMD and use its output as password [env S3VAULT_PASSWORD_COMMAND]",
    ),
    _opt(
        "--json",
        name="json",
        is_flag=True,
        default=None,
        help="Line-delimited JSON on stdout (errors as JSON on stderr)",
    ),
    _opt("-q", "--quiet", name="quiet", is_flag=True, default=None, help="Only errors"),
    _opt("-v", "--verbose", name="verbose", count=True, help="More detail (repeatable)"),
    _opt(
        "--cache-dir",
        name="cache_dir",
        metavar="DIR",
        help="Local cache directory [default: $XDG_CACHE_HOME/s3vault]",
    ),
    _opt("--no-cache", name="no_cache", is_flag=True, default=None, help="Use no local cache"),
    _opt(
        "--limit-upload",
        name="limit_upload",
        type=click.IntRange(0),
        metavar="KiB/s",
        help="Limit uploads to KiB/s (0: no limit)",
    ),
    _opt(
        "--limit-download",
        name="limit_download",
        type=click.IntRange(0),
        metavar="KiB/s",
        help="Limit downloads to KiB/s (0: no limit)",
    ),
    _opt(
        "--s3-endpoint",
        name="s3_endpoint",
        metavar="URL",
        help="S3 endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL)",
    ),
    _opt(
        "--cacert",
        name="cacert",
        metavar="FILE",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Trust the CA certificates in FILE (PEM) for the S3 endpoint's TLS, instead of the "
        "system's; may be given more than once, as restic's [env S3VAULT_CACERT]",
    ),
    _opt(
        "--insecure-tls",
        name="insecure_tls",
        is_flag=True,
        default=None,
        help="Do not verify the S3 endpoint's TLS certificate (dangerous: anyone on the path can "
        "read and change the traffic; prefer --cacert)",
    ),
    _opt("--s3-region", name="s3_region", metavar="REGION", help="S3 region"),
    _opt("--aws-profile", name="aws_profile", metavar="NAME", help="AWS profile from ~/.aws"),
    _opt(
        "--s3-path-style",
        name="s3_path_style",
        is_flag=True,
        default=None,
        help="Path-style bucket addressing (most S3-compatible stores)",
    ),
    _opt(
        "--s3-checksum",
        name="s3_checksum",
        type=click.Choice(["when_required", "when_supported"]),
        help="boto3 checksum mode; when_required for stores that reject the default",
    ),
    _opt(
        "--s3-storage-class",
        name="s3_storage_class",
        metavar="CLASS",
        help="Storage class for data packs (metadata always STANDARD)",
    ),
    _opt(
        "--s3-connections",
        name="s3_connections",
        type=click.IntRange(1, 256),
        help="Parallel connections (default 8)",
    ),
    _opt(
        "--aws-role-arn",
        name="aws_role_arn",
        metavar="ARN",
        help="Assume this IAM role (credentials refreshed during long runs)",
    ),
    _opt(
        "--aws-external-id",
        name="aws_external_id",
        metavar="ID",
        help="External id for --aws-role-arn",
    ),
    _opt(
        "--s3-sse",
        name="s3_sse",
        type=click.Choice(["AES256", "aws:kms"]),
        help="Server-side encryption of every object",
    ),
    _opt(
        "--s3-kms-key-id", name="s3_kms_key_id", metavar="ARN", help="KMS key for --s3-sse aws:kms"
    ),
    _opt(
        "--s3-bucket-owner",
        name="s3_bucket_owner",
        metavar="ACCOUNT",
        help="Expected bucket owner (sent as ExpectedBucketOwner)",
    ),
    _opt(
        "--retry-deadline",
        name="retry_deadline",
        type=Finite(1),
        metavar="SECONDS",
        help="Give up on storage that keeps failing after this long (default 300, exit 14)",
    ),
]


def global_options(func: F) -> F:
    """Attach the global options to a group or a command."""
    for option in reversed(_GLOBALS):
        func = option(func)
    return func


def cli_context() -> CliContext:
    """The CliContext of the running invocation."""
    ctx = click.get_current_context().find_root()
    if ctx.obj is None:
        ctx.obj = CliContext()
    obj: CliContext = ctx.obj
    apply_profile(obj)
    obj.configure_logging()  # every option known: -v's level, --json's shape
    return obj


if TYPE_CHECKING:  # generic only in newer click; do not subscript at run time
    _DurationBase = click.ParamType[timedelta]
    _KeepDurationBase = click.ParamType[KeepDuration]
    _TagListBase = click.ParamType[TagList]
else:
    _DurationBase = _KeepDurationBase = _TagListBase = click.ParamType


class Duration(_DurationBase):
    """``90s``, ``30min`` (or ``30m``), ``4h``, ``2d``, ``1w`` or combinations such as ``1h30m``.

    ``m`` is minutes here, as in Go's durations (restic 0.16+'s ``--retry-lock 5m``; ``0``
    alone is zero, as there); months exist only in ``--keep-within*`` (KeepWithin). With
    ``bare_minutes=False`` (an option where months would be a plausible reading, such as an
    Object Lock period) ``m`` is refused and minutes are spelled ``min``."""

    name = "duration"
    _UNITS: ClassVar[dict[str, int]] = {
        "s": 1,
        "m": 60,
        "min": 60,
        "h": 3600,
        "d": 86400,
        "w": 604800,
    }

    def __init__(self, *, bare_minutes: bool = True) -> None:
        self.bare_minutes = bare_minutes

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        """Parse a duration."""
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        if text == "0":  # as Go's time.ParseDuration
            return timedelta(0)
        parts = re.findall(r"(\d+(?:\.\d+)?)(min|[smhdw])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration like 90s, 30min, 4h or 1h30min", param, ctx)
        if not self.bare_minutes and any(u == "m" for _, u in parts):
            self.fail(
                f"{value!r}: m would be minutes here but months in --keep-within; write "
                "minutes as min (30min) or months as days (180d)",
                param,
                ctx,
            )
        try:
            return timedelta(seconds=sum(float(n) * self._UNITS[u] for n, u in parts))
        except OverflowError:  # past timedelta's 999,999,999 days (or no float at all)
            self.fail(f"{value!r}: a number is too large", param, ctx)


class KeepWithin(_KeepDurationBase):
    """restic's ``--keep-within`` durations: ``y``, ``m`` (months), ``d``, ``h``, combined in
    that order (``1y2m3d4h``); see KeepDuration.parse for what is refused and why."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> KeepDuration:
        """Parse a restic duration."""
        if isinstance(value, KeepDuration):
            return value
        try:
            return KeepDuration.parse(str(value), option="")
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


class KeepCount(click.IntRange):
    """A ``--keep-*`` count: 0 or more (a negative count means different things to different
    restic releases, so it is refused with that said)."""

    def __init__(self) -> None:
        super().__init__(min=0)

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """Parse a count."""
        if isinstance(value, str) and value.strip().startswith("-"):
            self.fail(
                f"{value}: restic 0.14 ignores a negative count (the rule keeps nothing) and "
                "later releases read -1 as 'keep all'; give the number to keep",
                param,
                ctx,
            )
        number: int = super().convert(cast("Any", value), param, ctx)
        return number


class TagListType(_TagListBase):
    """One ``--tag`` value: a tag list in restic's spelling, ``a,b`` (s3vault.tags)."""

    name = "taglist"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> TagList:
        """Split at commas."""
        if isinstance(value, tuple):
            return tuple(str(v) for v in value)
        return split_tags(str(value))


def tag_filter(fn: F) -> F:
    """``--tag`` as a filter, with restic's meaning (handed over as ``tags``: tag lists)."""
    option = click.option(
        "--tag",
        "tags",
        multiple=True,
        type=TagListType(),
        metavar="TAG[,TAG...]",
        help="Only snapshots with all of these tags; repeat for any of several lists "
        "(--tag a,b: tagged a and b; --tag a --tag b: tagged a or b; --tag '': untagged)",
    )
    return option(fn)


def snapshot_filters(fn: F) -> F:
    """restic's ``-H/--host``, ``--tag``, ``--path`` selecting snapshots (each repeatable),
    handed over as ``hosts``, ``tags`` and ``paths``."""
    fn = click.option(
        "--path", "paths", multiple=True, help="Only snapshots that include this path"
    )(fn)
    fn = tag_filter(fn)
    return click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")(
        fn
    )


def pattern_file(flag: str, help_text: str) -> Callable[[F], F]:
    """A repeatable option naming files of patterns (restic's ``--exclude-file`` and its kin),
    handed over as a tuple of paths under the flag's name with an ``s``: ``exclude_files``."""
    return click.option(
        flag,
        flag.removeprefix("--").replace("-", "_") + "s",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="FILE",
        help=help_text,
    )


def iexclude_options(fn: F) -> F:
    """restic's ``--iexclude`` and ``--iexclude-file`` (case-insensitive excludes), handed over
    as ``iexcludes`` and ``iexclude_files``."""
    fn = pattern_file("--iexclude-file", "As --exclude-file, ignoring case (repeatable)")(fn)
    return click.option(
        "--iexclude",
        "iexcludes",
        multiple=True,
        metavar="PATTERN",
        help="As --exclude, ignoring case (repeatable)",
    )(fn)


def latest_filters(fn: F) -> F:
    """restic's ``-H/--host``, ``--tag``, ``--path`` choosing which snapshot ``latest`` (or
    ``latest~N``) means, handed over as ``hosts``, ``tags`` and ``paths``."""
    fn = click.option(
        "--path",
        "paths",
        multiple=True,
        help="With 'latest': the latest snapshot that includes this path (repeatable: all of them)",
    )(fn)
    fn = tag_filter(fn)
    return click.option(
        "-H",
        "--host",
        "hosts",
        multiple=True,
        help="With 'latest': the latest snapshot of this host (repeatable: of any of them)",
    )(fn)


def read_workers_options(what: str, default: str = "one per core") -> Callable[[F], F]:
    """``-j/--jobs N`` (worker processes that ``what``; 0, the default: one per core) and
    ``--worker-timeout DURATION`` (a worker that holds work and says nothing that long is
    stopped and the command fails, exit 1), handed over as ``jobs`` and ``worker_timeout``
    (seconds)."""

    def positive(_ctx: click.Context, _param: click.Parameter, value: timedelta) -> float:
        if value.total_seconds() <= 0:
            raise click.BadParameter("must be longer than zero (e.g. 10m)")
        return value.total_seconds()

    def decorate(fn: F) -> F:
        fn = click.option(
            "--worker-timeout",
            type=Duration(),
            default="10m",
            show_default=True,
            callback=positive,
            metavar="DURATION",
            help="Stop a worker process that holds work and sends nothing for this long "
            "(the command then fails, exit 1)",
        )(fn)
        return jobs_option(f"Worker processes that {what} (default 0: {default}; 1: none)")(fn)

    return decorate


def jobs_option(help_text: str) -> Callable[[F], F]:
    """``-j/--jobs N`` (0: one per core), handed over as ``jobs``."""
    return click.option(
        "-j", "--jobs", type=click.IntRange(min=0, max=MAX_JOBS), default=0, help=help_text
    )


if TYPE_CHECKING:
    _TimeBase = click.ParamType[datetime]
else:
    _TimeBase = click.ParamType


def _as_local(wall: datetime) -> datetime:
    """A time without a zone, in this machine's zone, as Go's time.Date takes it (restic's
    ``backup --time``): the offset in effect at the wall time read as UTC, unless that puts
    the instant where another offset holds. So a time that does not exist (02:30 in the hour
    skipped in spring, Berlin) is 03:30 summer time, and one that happens twice (02:30 in the
    hour repeated in autumn) the later one, as restic records them; Python's own choice was
    an hour earlier in each, and a policy applied to the snapshots of a restic import kept
    others than restic."""
    guess = wall.replace(tzinfo=UTC)
    try:
        offset = guess.astimezone().utcoffset()
        assert offset is not None
        instant = guess - offset
        there = instant.astimezone().utcoffset()
        if there is not None and there != offset:
            instant = guess - there
        return instant.astimezone()
    except (OverflowError, ValueError, OSError):  # at year 1 or 9999: no change of offset there
        return wall.astimezone()


class Timestamp(_TimeBase):
    """An ISO 8601 time (``2025-01-31``, ``2025-01-31 02:00``, ``2025-01-31T02:00:00Z``); one
    without a zone is this machine's local time."""

    name = "time"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """Parse a time."""
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a time like 2025-01-31 02:00 (ISO 8601)", param, ctx)
        try:
            when = when if when.tzinfo else _as_local(when)
            when.astimezone(UTC)  # a snapshot's time must be one in UTC too (year 1 to 9999)
        except (OverflowError, ValueError, OSError):
            msg = f"{value!r} is out of range: in UTC it falls outside the years 1 to 9999"
            self.fail(msg, param, ctx)
        return when


if TYPE_CHECKING:
    _IntBase = click.ParamType[int]
else:
    _IntBase = click.ParamType


class ByteSize(_IntBase):
    """``500M``, ``5G``, ``1T`` or a plain number of bytes."""

    name = "size"
    _UNITS: ClassVar[dict[str, int]] = {
        "": 1,
        "k": 1 << 10,
        "m": 1 << 20,
        "g": 1 << 30,
        "t": 1 << 40,
    }

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """Parse a size."""
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgt]?)i?b?", str(value).strip().lower())
        if not match:
            self.fail(f"{value!r} is not a size like 500M or 5G", param, ctx)
        return int(float(match.group(1)) * self._UNITS[match.group(2)])


if TYPE_CHECKING:
    _PathBase = click.ParamType[Path]
else:
    _PathBase = click.ParamType


class TargetDir(_PathBase):
    """A directory to restore into. Empty is refused: ``--target "$DEST"`` with DEST unset
    would otherwise restore into the current directory."""

    name = "directory"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        """Refuse an empty path."""
        if isinstance(value, Path):
            return value
        if not str(value):
            self.fail("is empty (an unset variable?): name a directory", param, ctx)
        return Path(str(value))
