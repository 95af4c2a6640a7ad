"""s3vault backup."""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime
from pathlib import Path

import click

from s3vault import (
    BackupOptions,
    BackupResult,
    ExitCode,
    PutOnlyKeyError,
    TagList,
    UsageError,
    backup_put_only,
    flatten,
    open_put_only_repository,
)
from s3vault import backup as backup_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import (
    TagListType,
    Timestamp,
    cli_context,
    global_options,
    iexclude_options,
    jobs_option,
    pattern_file,
)
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, human_elapsed, plural, say, warn
from s3vault.cli.session import open_repo, repo_options


@click.command()
@global_options
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # unreadable: exit 3
@click.option(
    "--tag",
    "tags",
    multiple=True,
    type=TagListType(),
    metavar="TAG[,TAG...]",
    help="Tag the snapshot; commas separate tags (--tag a,b adds a and b), repeatable",
)
@click.option("-H", "--host", help="Host name to record (default: this host's name)")
@click.option(
    "-e",
    "--exclude",
    "excludes",
    multiple=True,
    metavar="PATTERN",
    help="Exclude paths matching PATTERN (restic's rules: a/cache at any depth, /a/cache "
    "only there, ** any depth, !P re-includes; repeatable)",
)
@pattern_file(
    "--exclude-file",
    "Read exclude patterns from a file, one a line, $VAR expanded as restic does (repeatable)",
)
@iexclude_options
@click.option(
    "--exclude-caches",
    is_flag=True,
    help="Skip the contents of directories with a valid CACHEDIR.TAG",
)
@click.option(
    "--exclude-if-present",
    "exclude_if_present",
    multiple=True,
    metavar="FILE[:HEADER]",
    help="Skip the contents of directories holding FILE (that starts with HEADER, if given; "
    "repeatable)",
)
@click.option(
    "--exclude-larger-than",
    metavar="SIZE",
    help="Skip files larger than SIZE (512K, 10M, 1G, 2T: powers of 1024)",
)
@click.option(
    "--files-from",
    "files_from",
    multiple=True,
    type=click.Path(path_type=Path, allow_dash=True),
    metavar="FILE",
    help="Back up the paths listed in FILE, one a line (# comments, globs expanded; "
    "- reads standard input; repeatable)",
)
@click.option(
    "--files-from-verbatim",
    multiple=True,
    type=click.Path(path_type=Path, allow_dash=True),
    metavar="FILE",
    help="Back up the paths listed in FILE, one a line, as they are (repeatable)",
)
@click.option(
    "--files-from-raw",
    multiple=True,
    type=click.Path(path_type=Path, allow_dash=True),
    metavar="FILE",
    help="Back up the paths listed in FILE, each ended by a NUL byte (find -print0; repeatable)",
)
@click.option(
    "--ignore-ctime", is_flag=True, help="Leave the ctime out when looking for changed files"
)
@click.option(
    "--ignore-inode",
    is_flag=True,
    help="Leave the inode and the ctime out when looking for changed files",
)
@click.option("--with-atime", is_flag=True, help="Record access times (not recorded by default)")
@click.option("-x", "--one-file-system", is_flag=True, help="Do not cross file system boundaries")
@click.option("--stdin", "use_stdin", is_flag=True, help="Back up standard input as one file")
@click.option(
    "--stdin-filename",
    default="stdin",
    show_default=True,
    help="File name for --stdin and --stdin-from-command",
)
@click.option(
    "--stdin-from-command",
    "stdin_command",
    is_flag=True,
    help="PATHS are a command to run: back up its standard output as one file; no snapshot "
    "unless it exits 0 (backup --stdin-from-command -- pg_dump mydb)",
)
@click.option(
    "--no-scan",
    is_flag=True,
    help="Do not count a first backup's files beside it (no total, no ETA; one walk less)",
)
@click.option(
    "--skip-if-unchanged",
    is_flag=True,
    help="Write no snapshot when nothing changed since the parent snapshot",
)
@click.option("--parent", metavar="SNAPSHOT", help="Compare against this snapshot")
@click.option("--force", is_flag=True, help="Read every file, even if unchanged")
@click.option(
    "--time",
    "when",
    type=Timestamp(),
    help="Record this time as the snapshot's (ISO 8601, local time unless a zone is given; "
    "for imports of old backups)",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Read PATHS below DIR and record them as if DIR were / (imports: --root /mnt/old "
    "/etc reads /mnt/old/etc and records /etc)",
    metavar="DIR",
)
@click.option("-n", "--dry-run", is_flag=True, help="Do everything but write to the repository")
@jobs_option(
    "Worker processes that read files (default 0: one per core, none below 1,000 files and "
    "32 MiB; 1: no worker process)"
)
def backup(
    paths: tuple[str, ...],
    tags: tuple[TagList, ...],
    host: str | None,
    excludes: tuple[str, ...],
    exclude_files: tuple[Path, ...],
    iexcludes: tuple[str, ...],
    iexclude_files: tuple[Path, ...],
    exclude_caches: bool,
    exclude_if_present: tuple[str, ...],
    exclude_larger_than: str | None,
    files_from: tuple[Path, ...],
    files_from_verbatim: tuple[Path, ...],
    files_from_raw: tuple[Path, ...],
    ignore_ctime: bool,
    ignore_inode: bool,
    with_atime: bool,
    one_file_system: bool,
    use_stdin: bool,
    stdin_filename: str,
    stdin_command: bool,
    no_scan: bool,
    skip_if_unchanged: bool,
    parent: str | None,
    force: bool,
    when: datetime | None,
    root: str | None,
    dry_run: bool,
    jobs: int,
) -> int:
    """Make a snapshot of PATHS and of the paths listed with --files-from (or of standard
    input with --stdin). With -P, the profile's paths (and lists) when none are given, and
    its excludes and tags in addition to these."""
    ctx = cli_context()
    command, paths = _command_and_paths(paths, stdin_command=stdin_command, use_stdin=use_stdin)
    options = BackupOptions(
        paths=paths,
        tags=flatten(tags),
        host=host,
        excludes=excludes,
        exclude_files=exclude_files,
        exclude_environ=dict(os.environ),
        exclude_caches=exclude_caches,
        one_file_system=one_file_system,
        files_from=files_from,
        files_from_verbatim=files_from_verbatim,
        files_from_raw=files_from_raw,
        files_from_stdin=sys.stdin.buffer,
        iexcludes=iexcludes,
        iexclude_files=iexclude_files,
        exclude_if_present=exclude_if_present,
        exclude_larger_than=exclude_larger_than,
        ignore_ctime=ignore_ctime,
        ignore_inode=ignore_inode,
        with_atime=with_atime,
        stdin=sys.stdin.buffer if use_stdin else None,
        stdin_filename=stdin_filename,
        stdin_command=command,
        skip_if_unchanged=skip_if_unchanged,
        scan=not no_scan,
        parent=parent,
        force=force,
        time=when,
        root=root,
        dry_run=dry_run,
        jobs=jobs,
    ).with_profile(ctx.profile)
    if not options.paths and not options.has_lists and not use_stdin and not command:
        msg = "nothing to back up: give PATHS or --files-from FILE (or --stdin, or a profile)"
        raise UsageError(msg)
    if (use_stdin or command) and (options.paths or options.has_lists or root):
        flag = "--stdin" if use_stdin else "--stdin-from-command"
        msg = f"{flag} takes no paths, no --files-from lists and no --root"
        raise UsageError(msg)
    _restic_host_unread(ctx, options.host)
    with CliProgress(ctx) as progress:
        result = _run(ctx, options, progress)
    _report(ctx, result)
    return ExitCode.PARTIAL if result.incomplete else ExitCode.OK


def _restic_host_unread(ctx: CliContext, host: str | None) -> None:
    """RESTIC_HOST set, and no --host (nor a profile's host): a warning that it is not read.
    A cron line brought over from restic recorded this host's name without a word, and
    `forget --host` and `restore latest --host` with restic's name then passed its
    snapshots by (an attack pass, 2026-12-07). Given --host silences it."""
    restic_host = os.environ.get("RESTIC_HOST", "")
    if host is not None or not restic_host or restic_host == socket.gethostname():
        return
    warn(
        ctx,
        "environment",
        f"RESTIC_HOST={restic_host} is not read (s3vault reads none of restic's variables): "
        f"a snapshot made here records the host {socket.gethostname()}; give --host "
        f"{restic_host} "
        "(docs/migration.md)",
    )


def _run(ctx: CliContext, options: BackupOptions, progress: CliProgress) -> BackupResult:
    """The backup, with a full key or, when the secret opens a put-only key (a backup host's:
    it writes, reads nothing; docs/keys.md), as a put-only host."""
    try:
        repo = open_repo(ctx, load_index=False, snapshots_ahead=True)  # its own index read
    except PutOnlyKeyError:
        put = open_put_only_repository(repo_options(ctx))
        return backup_put_only(put, options, progress=progress)
    return backup_op(repo, options, progress=progress)


def _command_and_paths(
    paths: tuple[str, ...], *, stdin_command: bool, use_stdin: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """--stdin-from-command: the arguments are the command (and there are no paths)."""
    if not stdin_command:
        return (), paths
    if not paths or use_stdin:
        msg = "--stdin-from-command needs the command after the options (and no --stdin)"
        raise UsageError(msg)
    return paths, ()


def _emit_summary(ctx: CliContext, r: BackupResult) -> None:
    """The --json summary line."""
    emit(
        ctx,
        "summary",
        snapshot_id=r.snapshot_id,
        skipped=r.skipped,
        parent_id=r.parent_id,
        files_new=r.files_new,
        files_changed=r.files_changed,
        files_unmodified=r.files_unmodified,
        files_failed=r.files_failed,
        dirs_new=r.dirs_new,
        dirs_changed=r.dirs_changed,
        dirs_unmodified=r.dirs_unmodified,
        data_blobs=r.data_blobs,
        tree_blobs=r.tree_blobs,
        data_added=r.data_added,
        data_added_raw=r.data_added_raw,
        total_files_processed=r.total_files_processed,
        total_bytes_processed=r.total_bytes_processed,
        total_duration=round(r.total_duration, 3),
        dry_run=r.dry_run,
        incomplete=r.incomplete,
        requests=r.requests,
        locks_extended=r.locks_extended,
        missing_packs=r.missing_packs,
        blobs_healed=r.blobs_healed,
    )


def _report(ctx: CliContext, r: BackupResult) -> None:
    if ctx.json:
        _emit_summary(ctx, r)
        return
    if r.parent_id is not None:
        say(ctx, f"using parent snapshot {r.parent_id.short}")
    say(
        ctx,
        f"Files:       {r.files_new} new, {r.files_changed} changed, "
        f"{r.files_unmodified} unmodified, {r.files_failed} failed",
    )
    say(
        ctx,
        f"Dirs:        {r.dirs_new} new, {r.dirs_changed} changed, {r.dirs_unmodified} unmodified",
    )
    say(
        ctx,
        f"{'Would add' if r.dry_run else 'Added'} to the repository: "
        f"{human_bytes(r.data_added)} "
        f"({human_bytes(r.data_added_raw)} before compression)",
    )
    rate = r.total_bytes_processed / r.total_duration if r.total_duration > 0 else 0
    say(
        ctx,
        f"processed {plural(r.total_files_processed, 'file')}, "
        f"{human_bytes(r.total_bytes_processed)} "
        f"in {human_elapsed(r.total_duration)} ({human_bytes(rate)}/s)",
    )
    if ctx.verbose > 0:
        q = r.requests
        say(
            ctx,
            f"storage requests: {q.put} PUT, {q.get} GET, {q.head} HEAD, {q.list} LIST, "
            f"{q.delete} DELETE; {human_bytes(q.bytes_up)} sent, "
            f"{human_bytes(q.bytes_down)} received",
        )
    if r.missing_packs:
        say(
            ctx,
            f"healed: {plural(r.blobs_healed, 'blob')} of {plural(r.missing_packs, 'pack')} "
            "missing from the store (or of another size there than the index says) were "
            "stored again for this snapshot",
        )
    if r.dry_run:
        say(ctx, "dry run: nothing was written")
    elif r.skipped:
        parent = r.parent_id.short if r.parent_id is not None else "?"
        say(ctx, f"nothing changed since snapshot {parent}: no snapshot written")
    else:
        assert r.snapshot_id is not None
        say(ctx, f"snapshot {r.snapshot_id.short} saved")
    if r.incomplete:
        ctx.err.print(
            f"Warning: {plural(len(r.warnings), 'source problem')}; "
            "the snapshot is marked incomplete",
            markup=False,
        )
