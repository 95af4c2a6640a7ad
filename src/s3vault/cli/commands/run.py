"""s3vault run NAME: a profile's whole routine, for cron and systemd timers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import click

from s3vault import ExitCode, UsageError
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.profile import apply_profile
from s3vault.cli.render import emit, say, warn

# From least to most severe: run exits with the most severe code of its steps.
SEVERITY = [
    ExitCode.OK,
    ExitCode.PARTIAL,
    ExitCode.LOCKED,
    ExitCode.DAMAGED,
    ExitCode.STORAGE_UNAVAILABLE,
    ExitCode.NO_REPOSITORY,
    ExitCode.WRONG_PASSWORD,
    ExitCode.USAGE,
    ExitCode.FATAL,
    ExitCode.INTERRUPTED,
]


def worst(codes: list[int]) -> int:
    """The most severe of several exit codes (unknown codes count as fatal)."""
    rank = {int(c): i for i, c in enumerate(SEVERITY)}
    return max(codes, key=lambda c: rank.get(c, rank[ExitCode.FATAL]), default=0)


def _steps(ctx: CliContext) -> list[list[str]]:
    profile = ctx.profile
    steps = [["backup"]]
    retention = profile.table("retention")
    if retention:
        steps.append(["forget", *(["--prune"] if retention.get("prune") else [])])
    subset = profile.table("verify").get("read_data_subset")
    steps.append(["verify", *(["--read-data-subset", str(subset)] if subset else [])])
    drill = profile.table("restore_test")
    if drill:  # this host's latest snapshot, not whichever host backed up last
        step = ["restore-test", "--host", profile.get("host") or socket.gethostname()]
        for key, flag in (
            ("sample", "--sample"),
            ("sample_percent", "--sample-percent"),
            ("rto_target", "--rto-target"),
            ("rpo_target", "--rpo-target"),
        ):
            if key in drill:
                step += [flag, str(drill[key])]
        steps.append(step)
    return steps


def _hook(ctx: CliContext, which: str, command: str, env: dict[str, str]) -> int:
    if not ctx.json:
        say(ctx, f"=== hook {which}: {command}")
    code = subprocess.run(["/bin/sh", "-c", command], env=env, check=False).returncode
    if code != 0:
        warn(ctx, f"hook {which}", f"exited with status {code}")
    return code


@click.command("run")
@global_options
@click.argument("name")
def run(name: str) -> int:
    """Run profile NAME's routine: its before hook, backup of its paths, forget by its
    retention (if any), verify (its read-data subset, if any), a restore drill (if it has
    one), then its after or on_failure hook. Exits with the most severe exit code of them."""
    ctx = cli_context()
    if ctx.profile is not None and ctx.profile.name != name:
        raise UsageError(f"run {name} with -P {ctx.profile.name}: give the profile once")
    ctx.profile_name = name
    apply_profile(ctx)
    base = [sys.executable, "-m", "s3vault", "-P", name]
    base += ["--config", str(ctx.profile.source)]
    base += (["--json"] if ctx.json else []) + (["-q"] if ctx.quiet else [])
    base += ["-v"] * ctx.verbose
    if ctx.metrics_file:
        base += ["--metrics-file", ctx.metrics_file]
    env = {**os.environ, "S3VAULT_PROFILE": name}
    hooks = ctx.profile.table("hooks")
    codes: list[int] = []
    if hooks.get("before") and _hook(ctx, "before", hooks["before"], env) != 0:
        codes.append(ExitCode.FATAL)
    else:
        for step in _steps(ctx):
            if not ctx.json:
                say(ctx, f"=== {' '.join(step)}")
            code = subprocess.run([*base, *step], env=env, check=False).returncode
            codes.append(code)
            if code == ExitCode.INTERRUPTED:
                break
    result = worst(codes)
    after = hooks.get("after") if result in (ExitCode.OK, ExitCode.PARTIAL) else None
    after = after or (hooks.get("on_failure") if result not in (0, 3) else None)
    if after:
        which = "after" if result in (0, 3) else "on_failure"
        if _hook(ctx, which, after, {**env, "S3VAULT_EXIT_CODE": str(result)}) != 0:
            result = worst([result, ExitCode.FATAL])
    ctx.invocation.measured(
        "run", steps=len(codes), failed_steps=sum(c not in (0, 3) for c in codes)
    )
    if ctx.json:
        emit(ctx, "summary", profile=name, exit_codes=codes, exit_code=result)
    else:
        say(ctx, f"run {name}: steps exited {codes}; exit code {result}")
    return result
