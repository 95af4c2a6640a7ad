"""s3vault run NAME: a profile's whole routine, for cron and systemd timers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys

import click

from s3vault import ExitCode, UsageError, routine, worst_exit_code
from s3vault.cli import STOP_GRACE, streams, wait_longer_to_stop
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.profile import apply_profile
from s3vault.cli.render import emit, say, warn


def _hook(ctx: CliContext, hook: routine.Hook, env: dict[str, str]) -> int:
    if not ctx.json:
        say(ctx, f"=== hook {hook.which}: {hook.command}")
    # with --json every line on stdout is a JSON object: what a hook prints goes to stderr
    out = sys.stderr.fileno() if ctx.json else None
    code = _wait(["/bin/sh", "-c", hook.command], env, out)
    if code != 0:
        warn(ctx, f"hook {hook.which}", f"exited with status {code}")
    return code


# the options run passes on itself (above); every other global option given on its command
# line goes to each step as given (they were dropped: `-r OTHER run web` backed up into the
# profile's repository, exit 0)
_PASSED_ABOVE = frozenset({"profile_name", "config_file", "json", "quiet", "metrics_file"})


def _wait(argv: list[str], env: dict[str, str], stdout: int | None = None) -> int:
    """Run a step or a hook in a process group of its own and wait for it. When run is told
    to stop (SIGTERM, SIGINT, SIGHUP), so is the whole group, and run waits for it before it
    ends: a killed hook left its children running, and a step stopped without its own grace
    (subprocess.run's SIGKILL) said nothing of what it had done."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(argv, env=env, stdout=stdout, start_new_session=True)
        return proc.wait()
    except KeyboardInterrupt:
        if proc is None:  # stopped before it started
            raise
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        # the step stops within its own grace (STOP_GRACE): run waits longer than that, and
        # a second signal stops the waiting
        wait_longer_to_stop(STOP_GRACE + 20, "a step or hook that does not end")
        proc.wait()
        raise


def _check_steps(ctx: CliContext, planned: list[list[str]]) -> None:
    """The profile's tables as its steps will take them, before anything runs: a value of
    the right type that a step refuses (``sample = 0``, ``rto_target = "soon"``, a
    ``[retention]`` rule) was found only by that step, after the backup had run, in click's
    usage text naming a flag nobody gave.

    Raises:
        UsageError: naming the config file, the profile, the step and what it refuses.
    """
    from s3vault.cli import cli

    routine.check_tables(ctx.profile)
    where = f"{ctx.profile.source}: profile {ctx.profile.name!r}"
    for step in planned:
        try:
            cli.commands[step[0]].make_context(step[0], list(step[1:]))
        except click.ClickException as exc:
            msg = f"{where}: its {step[0]} step refuses {exc.format_message()}"
            raise UsageError(msg) from None


def _step_command(ctx: CliContext, name: str) -> list[str]:
    """The command line each step starts with: the profile, and the global options given."""
    base = [sys.executable, "-m", "s3vault", "-P", name]
    base += ["--config", str(ctx.profile.source)]
    base += (["--json"] if ctx.json else []) + (["-q"] if ctx.quiet else [])
    base += ["-v"] * ctx.verbose
    if ctx.metrics_file:
        base += ["--metrics-file", ctx.metrics_file]
    for option, words in ctx.given:  # -r, --password-file, ... given here beat the profile's
        if option not in _PASSED_ABOVE:
            base += words
    return base


@click.command("run")
@global_options
@click.argument("name")
def run(name: str) -> int:
    """Run profile NAME's routine: its before hook, backup of its paths, forget by its
    retention (if any), verify (its read-data subset, if any), a restore drill (if it has
    one), then its after or on_failure hook. Exits with the most severe exit code of them."""
    ctx = cli_context()
    streams.keep_working()  # cron's entry point: its lost output must not skip the backup
    if ctx.profile is not None and ctx.profile.name != name:
        if any(option == "profile_name" for option, _words in ctx.given):
            raise UsageError(f"run {name} with -P {ctx.profile.name}: give the profile once")
        msg = (
            f"run {name} with S3VAULT_PROFILE={ctx.profile.name} in the environment: unset it "
            "(run names the profile itself)"
        )
        raise UsageError(msg)
    ctx.profile_name = name
    apply_profile(ctx)
    planned = routine.steps(ctx.profile, socket.gethostname())
    _check_steps(ctx, planned)
    base = _step_command(ctx, name)
    env = {**os.environ, "S3VAULT_PROFILE": name}
    codes: list[int] = []
    before = routine.before_hook(ctx.profile)
    if before is not None and _hook(ctx, before, env) != 0:
        codes.append(int(ExitCode.FATAL))
    else:
        for n, step in enumerate(planned):
            if not ctx.json:
                say(ctx, f"=== {' '.join(step)}")
            code = _wait([*base, *step], env)
            if code < 0:  # killed by a signal (the OOM killer's SIGKILL, an operator's)
                warn(ctx, f"run {name}", f"{step[0]} was killed by signal {-code}")
                code = int(ExitCode.FATAL)
            codes.append(code)
            if not routine.goes_on(step, code):
                skipped = [s[0] for s in planned[n + 1 :]]
                if skipped:
                    warn(
                        ctx, f"run {name}", f"{step[0]} exited {code}: {', '.join(skipped)} not run"
                    )
                break
    result = worst_exit_code(codes)
    after = routine.final_hook(ctx.profile, result)
    hook_env = {**env, "S3VAULT_EXIT_CODE": str(result)}
    if after is not None and _hook(ctx, after, hook_env) != 0 and result in (0, 3):
        result = int(ExitCode.FATAL)  # a failed step's own code stays: it says what failed
    ctx.invocation.measured(
        "run", steps=len(codes), failed_steps=sum(c not in (0, 3) for c in codes)
    )
    if ctx.json:
        emit(ctx, "summary", profile=name, exit_codes=codes, exit_code=result)
    else:
        say(ctx, f"run {name}: steps exited {codes}; exit code {result}")
    return result
