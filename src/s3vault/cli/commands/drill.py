"""s3vault restore-test (module named drill.py so pytest does not collect it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from click.core import ParameterSource
from rich.table import Table

from s3vault import (
    ARCHIVED,
    DrillFile,
    DrillOptions,
    DrillResult,
    ExitCode,
    ObjectId,
    UsageError,
    drill_history,
    restore_test,
)
from s3vault.cli.context import CliContext
from s3vault.cli.options import (
    Duration,
    Finite,
    TargetDir,
    cli_context,
    global_options,
    read_workers_options,
)
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import (
    cells,
    emit,
    human_bytes,
    human_duration,
    plural,
    print_table,
    printable,
    say,
    to_jsonable,
    warn,
)
from s3vault.cli.session import open_repo


def _hms(seconds: float | None, absent: str = "none") -> str:
    """A duration in words; ``absent`` for no target, ``unknown`` for no measure (-1)."""
    if seconds is None:
        return absent
    if seconds < 0:
        return "unknown"
    return human_duration(seconds)


def failed_targets(r: DrillFile, *, empty: bool, refused: int = 0) -> list[str]:
    """Which targets a drill missed: ``damage`` (mismatches or errors), ``target_refused``
    (``refused`` of the errors are entries the drill's target refused: a host limit, not the
    repository's damage), ``rto`` (the projected restore time is over the target, or unknown),
    ``rpo`` (the snapshot is older than the target, or its age unknown), ``nothing_selected``
    (nothing to prove)."""
    failed = []
    if r.mismatches or r.errors > refused:
        failed.append("damage")
    if refused:
        failed.append("target_refused")
    if r.rto_target_seconds is not None and not (
        0 <= r.projected_rto_seconds <= r.rto_target_seconds
    ):
        failed.append("rto")
    if r.rpo_target_seconds is not None and not (  # dated ahead of the clock: age unknown
        0 <= r.snapshot_age_seconds <= r.rpo_target_seconds
    ):
        failed.append("rpo")
    if empty:
        failed.append("nothing_selected")
    return failed


@click.command("restore-test")
@global_options
@click.argument("snapshot", default="latest")
@click.option("-H", "--host", help="With 'latest': the latest snapshot of this host")
@click.option(
    "--sample",
    "sample_files",
    type=click.IntRange(1),
    metavar="N",
    help="Restore a random sample of N files",
)
@click.option(
    "--sample-percent",
    type=Finite(0, 100, min_open=True),
    metavar="P",
    help="Restore a random P% of the files",
)
@click.option("--seed", type=int, help="Seed of the random sample (to replay a drill)")
@click.option(
    "-t",
    "--target",
    type=TargetDir(),
    help="Restore here instead of a temporary directory",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary directory and the files restored there (in a --target: always)",
)
@click.option("--no-disk", is_flag=True, help="Fetch and hash everything, write nothing")
@click.option("--rto-target", type=Duration(), help="Fail if a full restore would take longer")
@click.option("--rpo-target", type=Duration(), help="Fail if the snapshot is older than this")
@click.option("--no-record", is_flag=True, help="Do not record this drill in the repository")
@click.option("--history", is_flag=True, help="List past drills instead of running one")
@read_workers_options("restore and prove")
def drill(
    snapshot: str,
    host: str | None,
    sample_files: int | None,
    sample_percent: float | None,
    seed: int | None,
    target: Path | None,
    keep: bool,
    no_disk: bool,
    rto_target: timedelta | None,
    rpo_target: timedelta | None,
    no_record: bool,
    history: bool,
    jobs: int,
    worker_timeout: float,
) -> int:
    """Restore SNAPSHOT (an id prefix, latest or latest~N; default latest), or a sample of it,
    and prove every byte.

    Exit code 13 when a file does not match, is not restored for any reason, or a target is
    missed; 3 when nothing was selected (an empty snapshot or sample): nothing was proven.
    """
    ctx = cli_context()
    _refuse_passed_over(history, seed, sample_files, sample_percent)
    given = [flag for flag, on in (("--target", target), ("--keep", keep)) if on]
    if no_disk and given:  # it writes nothing: the flag would be passed over without a word
        raise UsageError(f"--no-disk writes nothing: it does not mix with {given[0]}")
    if len(given) == 2:
        raise UsageError("--target DIR keeps its files: give --target or --keep, not both")
    repo = open_repo(ctx, snapshots_ahead=True)
    if history:
        return _history(ctx, drill_history(repo))
    options = DrillOptions(
        snapshot=snapshot,
        host=host,
        sample_files=sample_files,
        sample_percent=sample_percent,
        seed=seed,
        target=target,
        keep=keep or target is not None,
        no_disk=no_disk,
        rto_target=rto_target,
        rpo_target=rpo_target,
        record=not no_record,
        jobs=jobs,
        worker_timeout=worker_timeout,
    )
    with CliProgress(ctx) as progress:
        result = restore_test(repo, options, progress=progress)
    _show(ctx, result, no_disk=no_disk)
    if result.record.passed:
        return ExitCode.OK
    return ExitCode.PARTIAL if result.empty and not result.failures else ExitCode.DAMAGED


def _refuse_passed_over(
    history: bool, seed: int | None, sample_files: int | None, sample_percent: float | None
) -> None:
    """Options that would be passed over without a word are refused (an attack pass,
    2026-12-07): --history runs no drill, and --seed picks a sample only.

    Raises:
        UsageError: --history with a drill's options, or --seed without a sample.
    """
    ctx = click.get_current_context()
    if history:
        drills = [
            "SNAPSHOT" if name == "snapshot" else f"--{name.replace('_', '-')}"
            for name in ctx.params
            if name not in ("history", "jobs", "worker_timeout")
            and ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
        ]
        if drills:
            raise UsageError(f"--history lists earlier drills: it runs none ({drills[0]})")
    if seed is not None and sample_files is None and sample_percent is None:
        raise UsageError("--seed picks a sample: give it with --sample or --sample-percent")


def _show(ctx: CliContext, result: DrillResult, *, no_disk: bool) -> None:
    r = result.record
    if result.empty:
        warn(ctx, "/", "nothing selected to restore and prove: the drill proves nothing")
    refused, errors = set(result.refused), set(result.errors)

    def kind(failure: tuple[str, str]) -> str:
        """As the record counts it: an error (not restored) or a mismatch (restored
        differently); "not restored" where the drill's target refused it. Every line said
        "mismatch" (an attack pass, 2026-12-07: 0 mismatches, 1 error, one "mismatch:")."""
        if failure in refused:
            return "not restored"
        return "error" if failure in errors else "mismatch"

    if ctx.json:
        for failure in result.failures:
            path, problem = failure
            emit(ctx, "mismatch", item=path, message=problem, kind=kind(failure))
        emit(
            ctx,
            "summary",
            **to_jsonable(r),
            snapshot_id=r.snapshot,  # `snapshot` kept beside it: documented before 2026-12-05
            failed_targets=failed_targets(r, empty=result.empty, refused=len(result.refused)),
            drill_id=result.record_id,
            requests=result.requests,
        )
        return
    for failure in result.failures:
        path, problem = failure
        ctx.err.print(f"{kind(failure)}: {printable(path)}: {printable(problem)}", markup=False)
    say(
        ctx,
        f"restore drill of snapshot {r.snapshot[:8]} ({r.sample}, "
        f"{'no disk' if no_disk else result.target})",
    )
    say(
        ctx,
        f"  checked:       {plural(r.files_checked, 'file')}, {human_bytes(r.bytes_checked)}, "
        f"{plural(r.mismatches, 'mismatch', 'mismatches')}, {plural(r.errors, 'error')}",
    )
    say(
        ctx,
        f"  restore:       {r.restore_seconds:.2f} s at {human_bytes(r.bytes_per_second)}/s"
        f" (proof {r.verify_seconds:.2f} s)",
    )
    say(
        ctx,
        f"  projected RTO: {_hms(r.projected_rto_seconds)} for "
        f"{human_bytes(r.snapshot_bytes)} (target {_hms(r.rto_target_seconds)})",
    )
    say(
        ctx,
        f"  snapshot age:  {_hms(r.snapshot_age_seconds)} "
        f"(RPO target {_hms(r.rpo_target_seconds)})",
    )
    failed = failed_targets(r, empty=result.empty, refused=len(result.refused))
    words = [_FAILED_WORDS[f] for f in failed]
    if result.errors and all(ARCHIVED in problem for _path, problem in result.errors):
        # not damage: "damage found" over data that is there (an attack pass on moto)
        words = [ARCHIVED_WORDS if f == "damage" else _FAILED_WORDS[f] for f in failed]
    why = f" ({', '.join(words)})" if failed and not r.passed else ""
    say(ctx, f"  result:        {'PASS' if r.passed else 'FAIL'}{why}")


ARCHIVED_WORDS = (
    "data in packs their storage class archived could not be read: restore them from the "
    "archive, then drill again; nothing is known to be lost"
)
_FAILED_WORDS = {
    "damage": "damage found",
    "target_refused": "the drill's target refused entries: a limit of this host, not damage",
    "rto": "RTO target missed",
    "rpo": "RPO target missed",
    "nothing_selected": "nothing selected",
}


def _history(ctx: CliContext, drills: list[tuple[ObjectId, DrillFile]]) -> int:
    if ctx.json:
        for oid, d in drills:
            emit(ctx, "drill", drill_id=oid, **to_jsonable(d), snapshot_id=d.snapshot)
        return ExitCode.OK
    table = Table(box=None, pad_edge=False)
    for column in ("Time", "Snapshot", "Sample", "Files", "Rate", "RTO", "Result"):
        table.add_column(column)
    for _oid, d in drills:
        table.add_row(
            d.time.astimezone().strftime("%Y-%m-%d %H:%M"),
            d.snapshot[:8],
            *cells(printable(d.sample)),
            str(d.files_checked),
            f"{human_bytes(d.bytes_per_second)}/s",
            _hms(d.projected_rto_seconds),
            "PASS" if d.passed else "FAIL",
        )
    print_table(ctx, table)
    return ExitCode.OK
