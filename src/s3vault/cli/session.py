"""From global options to an open repository."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from s3vault import (
    BackendOptions,
    RepoOptions,
    Repository,
    UsageError,
    is_hex,
    open_repository,
)
from s3vault.cli.context import CliContext
from s3vault.cli.password import read_password, secret_kind
from s3vault.cli.progress import waits_for
from s3vault.cli.render import warn


def restic_variables_note(prefix: str = "RESTIC_") -> str:
    """Why restic's variables (names starting ``prefix``) set here are not read, for a message
    about what is missing (a cron line brought over from restic), or ""."""
    restic = sorted(k for k in os.environ if k.startswith(prefix))
    if not restic:
        return ""
    return (
        f" ({', '.join(restic)} set: s3vault reads none of restic's variables; "
        "docs/migration.md names each one's S3VAULT_ spelling)"
    )


def repo_options(ctx: CliContext, *, confirm_password: bool = False) -> RepoOptions:
    """Repository URL, password and cache directory from the global options."""
    url = ctx.repository
    if not url:
        msg = "no repository given: use -r/--repo or set S3VAULT_REPOSITORY"
        raise UsageError(msg + restic_variables_note())
    return RepoOptions(
        url=url,
        password=read_password(ctx, confirm=confirm_password, optional=not confirm_password),
        cache_dir=ctx.cache_path(),
        backend=backend_options(ctx),
        key_hint=key_hint(ctx),
        key_kind=secret_kind(ctx),
    )


def key_hint(ctx: CliContext) -> str:
    """--key-hint / $S3VAULT_KEY_HINT: a key id or a prefix of one, in hex ("" for none).

    Raises:
        UsageError: it is not hexadecimal.
    """
    hint = (ctx.key_hint or os.environ.get("S3VAULT_KEY_HINT") or "").strip().lower()
    if hint and not is_hex(hint):
        if any(name == "key_hint" for name, _words in ctx.given):
            source = "--key-hint"
        elif ctx.key_hint and ctx.profile is not None:
            source = f"key_hint of profile {ctx.profile.name!r} ({ctx.profile.source})"
        else:
            source = "S3VAULT_KEY_HINT"
        msg = f"{source} {hint!r}: a key id is hexadecimal (s3vault key list shows them)"
        raise UsageError(msg)
    return hint


def backend_options(ctx: CliContext) -> BackendOptions:
    """How to reach the storage, from the global options."""
    return BackendOptions(
        s3_endpoint=ctx.s3_endpoint,
        s3_region=ctx.s3_region,
        aws_profile=ctx.aws_profile,
        s3_path_style=ctx.s3_path_style,
        s3_checksum=ctx.s3_checksum,
        s3_storage_class=ctx.s3_storage_class,
        s3_connections=ctx.s3_connections or 8,
        retry_deadline=ctx.retry_deadline or 300.0,
        limit_upload=ctx.limit_upload,
        limit_download=ctx.limit_download,
        s3_sse=ctx.s3_sse,
        s3_kms_key_id=ctx.s3_kms_key_id,
        s3_bucket_owner=ctx.s3_bucket_owner,
        aws_role_arn=ctx.aws_role_arn,
        aws_external_id=ctx.aws_external_id,
        s3_verify_tls=tls_verification(ctx),
        waits=waits_for(ctx),
    )


def tls_verification(ctx: CliContext) -> bool | str | None:
    """--cacert / $S3VAULT_CACERT: a CA bundle path; --insecure-tls: False (said once, loudly);
    neither: None (boto3's default: the system's CAs, or $AWS_CA_BUNDLE).

    Raises:
        UsageError: both given, or the CA file is missing or holds no certificate.
    """
    given = (ctx.cacert,) if isinstance(ctx.cacert, str) else ctx.cacert or ()
    from_env = os.environ.get("S3VAULT_CACERT")
    cacerts = given or ((from_env,) if from_env else ())
    cacert = cacerts[0] if cacerts else None
    if ctx.insecure_tls and cacert:
        raise UsageError("--insecure-tls and --cacert (or S3VAULT_CACERT) both given: choose one")
    if ctx.insecure_tls:
        if not ctx.tls_warned:
            ctx.tls_warned = True
            warn(
                ctx,
                "--insecure-tls",
                "the S3 endpoint's TLS certificate is NOT verified: anyone on the network path "
                "can read and change this traffic (use --cacert FILE for a private CA)",
            )
        # said once above; urllib3 would otherwise repeat it for every request
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        return False
    if cacert is None:
        return None
    source = "--cacert" if given else "S3VAULT_CACERT"
    paths = [_ca_file(source, name) for name in cacerts]
    return str(paths[0]) if len(paths) == 1 else _ca_bundle(paths)


def _ca_file(source: str, name: str) -> Path:
    """A CA file given, read now: a file of no certificate was retried as an outage for 5
    minutes (exit 14).

    Raises:
        UsageError: it is missing, no regular file, or holds no certificate.
    """
    # here, only with a CA file: OpenSSL mapped into every command cost a local repository's
    # read-back its last megabytes under `ulimit -v` (a clean clone's run: an internal error)
    import ssl

    path = Path(name).expanduser()
    if not path.is_file():
        why = "not a regular file" if path.exists() else "no such file"
        raise UsageError(f"{source} {name}: {why}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        msg = f"{source} {name}: no CA certificate can be read from it ({exc})"
        raise UsageError(msg) from None
    return path.resolve()


def _ca_bundle(paths: list[Path]) -> str:
    """Several CA files as one bundle (the S3 client takes one file): a private file that
    lives as long as the command. --cacert given twice kept only the last file, where
    restic trusts all of them (an attack pass, 2026-12-07)."""
    import atexit  # as ssl above: only where several CA files are given
    import tempfile

    fd, bundle = tempfile.mkstemp(prefix="s3vault-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as out:
        for path in paths:
            out.write(path.read_bytes().rstrip(b"\n") + b"\n")
    atexit.register(os.unlink, bundle)
    return bundle


def skip_reporter(ctx: CliContext) -> Callable[[str, str], None]:
    """Each damaged object an operation passes over, as a warning line (stderr; a JSON
    warning with --json) the moment it is skipped."""
    return lambda name, reason: warn(ctx, name, reason)


def open_repo(
    ctx: CliContext, *, load_index: bool = True, snapshots_ahead: bool = False
) -> Repository:
    """Open, unlock and (by default) load the index (``snapshots_ahead``: see
    open_repository)."""
    repo = open_repository(
        repo_options(ctx),
        load_index=load_index,
        on_skip=skip_reporter(ctx),
        snapshots_ahead=snapshots_ahead,
    )
    ctx.opened = repo
    return repo
