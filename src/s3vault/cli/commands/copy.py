"""s3vault copy: snapshots into another repository, for disaster recovery."""

from __future__ import annotations

from dataclasses import replace

import click

from s3vault import (
    ARCHIVED,
    CopyOptions,
    CopyResult,
    ExitCode,
    RepoOptions,
    TagList,
    UsageError,
    WrongPasswordError,
    config_path,
    open_repository,
    profile_names,
)
from s3vault import copy as copy_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options, tag_filter
from s3vault.cli.password import read_target_password
from s3vault.cli.profile import apply_profile
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, plural, say
from s3vault.cli.session import backend_options, repo_options, skip_reporter

# global options that say how to transfer, not where: given on the command line, they apply
# to a profile target too (a copy uploads only to its target). --limit-upload and
# --s3-storage-class reached only the source, without a word (an attack pass, 2026-12-07).
TRANSFER_FLAGS = (
    "limit_upload",
    "limit_download",
    "retry_deadline",
    "s3_connections",
    "s3_storage_class",
)


def _transfer_flags(ctx: CliContext) -> dict[str, object]:
    given = {name for name, _words in ctx.given}
    return {attr: getattr(ctx, attr) for attr in TRANSFER_FLAGS if attr in given}


def target_options(
    ctx: CliContext, to: str, to_password_file: str | None, source: RepoOptions
) -> RepoOptions:
    """The target: a profile of the config file (its repository, account and password
    source; the environment, which belongs to the source, is ignored; the transfer flags
    given on the command line apply to it too) or a URL reached like the source. Its
    secret: --to-password-file, else $S3VAULT_TO_PASSWORD, else the
    profile's (password file or command, recovery key file, KMS; and its key hint), else the
    source's."""
    if not to.strip():
        raise UsageError("copy --to: no target given (a repository URL or a profile's name)")
    profile = None
    url, backend = to, source.backend
    if to in profile_names(config_path(ctx.config_file)):
        profile = CliContext(profile_name=to, config_file=ctx.config_file)
        for attr, value in _transfer_flags(ctx).items():  # flags beat the profile's values
            setattr(profile, attr, value)
        apply_profile(profile, environment=False)
        if not profile.repo:
            raise UsageError(f"copy --to {to}: the profile names no repository")
        url, backend = profile.repo, backend_options(profile)
    password, kind = read_target_password(
        to_password_file, profile, (source.password, source.key_kind)
    )
    hint = (profile.key_hint or "").strip().lower() if profile is not None else source.key_hint
    return replace(
        source, url=url, password=password, backend=backend, key_kind=kind, key_hint=hint
    )


@click.command()
@global_options
@click.argument("snapshots", nargs=-1)
@click.option("--to", "to", required=True, metavar="URL|PROFILE", help="The target repository")
@click.option(
    "--to-password-file",
    type=click.Path(dir_okay=False),
    help="The target's password (else $S3VAULT_TO_PASSWORD, the profile's, or the source's)",
)
@click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots of this path")
def copy(
    snapshots: tuple[str, ...],
    to: str,
    to_password_file: str | None,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """Copy SNAPSHOTS (default: all, filtered by --host, --tag, --path) into another
    repository: re-encrypted for it, sending only the data it lacks, keeping their time, host
    and paths. Snapshots copied before are skipped, so an interrupted copy resumes."""
    ctx = cli_context()
    source = repo_options(ctx)  # the password is read once
    src = open_repository(source, load_index=False, on_skip=skip_reporter(ctx))
    target = target_options(ctx, to, to_password_file, source)
    try:
        dst = open_repository(target, load_index=False, on_skip=skip_reporter(ctx))
    except WrongPasswordError as exc:
        if target.password != source.password or target.key_kind != source.key_kind:
            raise
        msg = (  # it read as the source's own password being wrong (an attack pass)
            f"the target: {exc}: without --to-password-file (or $S3VAULT_TO_PASSWORD, or a "
            "target profile's password source), the source's password was tried on it"
        )
        raise WrongPasswordError(msg) from None
    ctx.opened, ctx.read_from = dst, src

    def copied(source: str, target: str) -> None:  # as each is committed: a stopped copy
        if ctx.json:  # has said what it copied
            emit(ctx, "snapshot_copied", source_snapshot_id=source, target_snapshot_id=target)
        else:
            say(ctx, f"copied snapshot {source[:8]} to {target[:8]}")

    options = CopyOptions(
        snapshots=snapshots, hosts=hosts, tags=tags, paths=paths, on_copied=copied
    )
    with CliProgress(ctx) as progress:
        r = copy_op(src, dst, options, cache_dir=ctx.cache_path(), progress=progress)
    return _report(ctx, r)


def _report(ctx: CliContext, r: CopyResult) -> int:
    """The summary (JSON, or lines) and the exit code: 13 when a damaged snapshot was not
    copied."""
    if ctx.json:
        emit(
            ctx,
            "summary",
            copied=[{"source_snapshot_id": s, "target_snapshot_id": t} for s, t in r.copied],
            skipped=r.skipped,
            not_copied_back=[
                {"source_snapshot_id": s, "target_snapshot_id": t} for s, t in r.not_copied_back
            ],
            failed=[{"source_snapshot_id": s, "reason": why} for s, why in r.failed],
            forgotten=r.forgotten,
            blobs_read=r.blobs_read,
            bytes_read=r.bytes_read,
            blobs_sent=r.blobs_sent,
            bytes_sent=r.bytes_sent,
            source_packs_proven=r.packs_proven,
            source_ledger_file=r.ledger_file.hex() if r.ledger_file else None,
            requests=r.requests,
        )
        return ExitCode.DAMAGED if r.failed else ExitCode.OK
    say(
        ctx,
        f"{len(r.copied)} copied, {len(r.skipped)} already there; read {human_bytes(r.bytes_read)}"
        f" from the source, sent {r.blobs_sent} blobs ({human_bytes(r.bytes_sent)} stored)",
    )
    if r.not_copied_back:
        say(
            ctx,
            f"{plural(len(r.not_copied_back), 'snapshot')} not copied back: copies of the "
            "target's own snapshots of which it holds no version any more (forgotten there: "
            f"first {r.not_copied_back[0][1][:8]})",
        )
    if r.forgotten:
        say(
            ctx,
            f"{plural(len(r.forgotten), 'snapshot')} not copied: removed from the source "
            "(forget and prune) while the copy ran",
        )
    if r.ledger_file is not None:
        say(
            ctx,
            f"{plural(r.packs_proven, 'source pack')} read whole and found intact: recorded in"
            " the source's verification ledger",
        )
    archived = [s for s, why in r.failed if ARCHIVED in why]
    if archived:  # intact data: it had been called damage (an attack pass, 2026-12-07)
        ctx.err.print(
            f"{plural(len(archived), 'snapshot')} not copied: their data is in packs their "
            "storage class has archived (named above): restore those packs from the archive "
            "(docs/s3.md), then copy again; nothing is known to be lost",
            markup=False,
        )
    if damaged := len(r.failed) - len(archived):
        ctx.err.print(
            f"{plural(damaged, 'damaged snapshot')} not copied: "
            "`s3vault verify --read-data` on the source "
            "names the damage",
            markup=False,
        )
    return ExitCode.DAMAGED if r.failed else ExitCode.OK
