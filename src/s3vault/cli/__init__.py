"""The s3vault command line: a thin click + rich layer over the library API.

THE exception → exit-code mapping lives here (``main``), and nowhere else.

Exit codes: 0 success; 1 fatal error; 2 usage error; 3 snapshot made but some source files could
not be read; 10 repository does not exist; 11 lock or lease held; 12 wrong password or no key;
13 damage or mismatch found; 14 storage unreachable after retries; 130 interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import gc
import logging
import os
import resource
import select
import signal
import sys
import threading
import traceback
from types import FrameType

import click

from s3vault import (
    ExitCode,
    Invocation,
    MetricsTarget,
    NoPasswordError,
    S3VaultError,
    SystemClock,
    __version__,
    crash_point,
    invocation,
    most_workers,
    out_of_memory_message,
    publish_metrics,
)
from s3vault.cli import streams
from s3vault.cli.commands import LazyCommands
from s3vault.cli.context import CliContext
from s3vault.cli.examples import add_examples
from s3vault.cli.options import global_options, global_options_last
from s3vault.cli.render import emit_error, json_line, warn
from s3vault.cli.session import backend_options, restic_variables_note

# glibc mallopt parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

EPILOG = """\b
Exit codes:
  0 success               10 repository does not exist
  1 fatal error           11 lock or lease held by another process
  2 usage error           12 wrong password or no usable key
  3 snapshot made, but    13 verify/restore found damage or a mismatch
    some files unreadable 14 storage unreachable after retries
                          130 interrupted (SIGINT/SIGTERM)
"""


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader is gone (``s3vault ls | head``)."""
    if getattr(sys.stdout, "failure", None) is not None:
        return True  # cli/streams.py saw it (and pointed stdout at /dev/null)
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True  # cannot tell: leave it to click's quiet exit


class _Interrupted(Exception):
    """A SIGINT, SIGTERM or SIGHUP during a command (KeyboardInterrupt, carried past click)."""


# restic's commands whose work has another name here (docs/usage.md's restic table)
RESTIC_NAMES = {
    "check": "`s3vault verify` here (the same flags: --read-data, --read-data-subset)",
    "version": "`s3vault --version` here",
    "self-update": "the package manager's upgrade here (pip install -U s3vault)",
    "recover": "`s3vault repair snapshots` here (it rewrites snapshots without what is lost)",
    "rebuild-index": "`s3vault repair index` here",
    "generate": (
        "not here: shell completion is `_S3VAULT_COMPLETE=bash_source s3vault` "
        "(docs/examples/completion), man pages `make man`"
    ),
    "migrate": "not needed here: one format version so far (docs/upgrades.md)",
}


# restic's options that have another spelling, or none, here: (command, option) → what to use
RESTIC_OPTIONS = {
    ("backup", "-f"): "--force here (no short form: it reads every file again)",
    ("backup", "--read-concurrency"): "-j/--jobs here (worker processes that read and chunk)",
    ("stats", "--mode"): (
        "not here: stats shows the stored and restorable sizes and the dedup ratio at once "
        "(--history for each snapshot's)"
    ),
    ("init", "--from-repo"): (
        "not here: run `s3vault copy --to URL` against the source (the target's own chunker "
        "keeps deduplication across its hosts)"
    ),
    ("copy", "--from-repo"): "not here: run copy against the source, with --to TARGET",
    ("copy", "--repo2"): "--to here (run copy against the source, with --to TARGET)",
    ("init", "--copy-chunker-params"): (
        "not here: run `s3vault copy --to URL` against the source (the target's own chunker "
        "keeps deduplication across its hosts)"
    ),
    ("restore", "--delete"): (
        "not taken here: restore never removes what the target holds beyond the snapshot "
        "(restore into an empty directory for exactly the snapshot)"
    ),
}
# restic's commands that take snapshots as arguments and none here: command → what to use
RESTIC_ARGUMENTS = {
    "stats": (
        "not here: stats covers the whole repository (--history: each snapshot's sizes; "
        "`s3vault restore SNAPSHOT --dry-run` says what one restores)"
    ),
}
# restic's global options, given to any command
RESTIC_GLOBAL_OPTIONS = {
    "--repository": "-r/--repo here (the environment's S3VAULT_REPOSITORY)",
    "-p": "--password-file here (no short form; the environment's S3VAULT_PASSWORD_FILE)",
    "--cleanup-cache": "`s3vault cache --cleanup` here",
    "--compression": "`s3vault init --compression` here (a repository's setting)",
    "--pack-size": "`s3vault init --pack-size` here (a repository's setting)",
    "-o": (
        "one flag per option here: s3.storage-class is --s3-storage-class, s3.connections "
        "--s3-connections (docs/s3.md)"
    ),
    "--option": (
        "one flag per option here: s3.storage-class is --s3-storage-class, s3.connections "
        "--s3-connections (docs/s3.md)"
    ),
    "--no-lock": (
        "not needed here: commands that only read take no lock, on a read-only store too "
        "(prune --dry-run goes on without the maintenance lease where it cannot take it)"
    ),
}


def _restic_option(exc: click.ClickException) -> click.ClickException:
    """A restic option that has another name (or none) here says so, instead of click's bare
    "No such option" (or a wrong "Did you mean '--repo'?" for --from-repo); so does a
    snapshot given to a command that takes none here (restic's `stats latest`)."""
    if not isinstance(exc, click.UsageError) or exc.ctx is None:
        return exc
    command = exc.ctx.command.name or ""
    said = exc.format_message()
    if "unexpected extra argument" in said and command in RESTIC_ARGUMENTS:
        hint = RESTIC_ARGUMENTS[command]
        return click.UsageError(f"{said}: restic's `{command} SNAPSHOT` is {hint}", exc.ctx)
    if not isinstance(exc, click.NoSuchOption):
        return exc
    name = exc.option_name
    found = RESTIC_OPTIONS.get((command, name)) or RESTIC_GLOBAL_OPTIONS.get(name)
    if found is None:
        return exc
    return click.UsageError(f"No such option: {name}: restic's `{name}` is {found}", exc.ctx)


class _Group(click.Group):
    """click turns any EPIPE into a silent exit 1, which is right for a closed standard output
    only: a broken pipe anywhere else is an s3vault bug and must say so (internal error)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A restic command that has another name here is named (`check`: "Did you mean
        'cache'?" sent a restic user to the wrong command)."""
        name = args[0] if args else ""
        if name in RESTIC_NAMES and name not in self.commands:
            ctx.fail(f"No such command '{name}': restic's `{name}` is {RESTIC_NAMES[name]}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # past click, which would print an empty line first
            raise _Interrupted from exc  # (on stderr: a blank line in --json's JSON lines)
        except BrokenPipeError as exc:
            if _stdout_closed():
                raise
            raise RuntimeError(f"broken pipe outside standard output: {exc}") from exc


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s3vault")
@global_options
def cli() -> None:
    """s3vault: deduplicating, encrypted backups into S3 or a local directory."""


def _finish(name: str, command: click.Command) -> None:
    """What every command gets when it is loaded: the examples at the end of its help text,
    and its own options listed before the global ones."""
    add_examples(name, command)
    global_options_last(command)


global_options_last(cli)
cli.commands = LazyCommands(_finish)


_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # each ends a command as Ctrl-C


STOP_GRACE = 10.0  # seconds a command may take to stop once a signal ended its work


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT, SIGTERM, SIGHUP: the command ends (as Ctrl-C), and what it still writes waits
    for no reader that reads nothing (streams.stopping). It has STOP_GRACE seconds for that:
    a thread still in a request (a store that stalls, a listing that never ends) held the
    interpreter's exit, and only a second signal ended the command (``_stop_anyway``)."""
    streams.stopping()
    _stop_anyway(STOP_GRACE)
    raise KeyboardInterrupt


_grace: list[threading.Timer] = []


def _stop_anyway(seconds: float, what: str = "a request that does not end") -> None:
    """Once: end the process with exit code 130 ``seconds`` from now if it has not ended by
    then, saying so on standard error (raw: the stream's lock may be held by the thread that
    waits). What the command had not finished is left as a kill leaves it, which the
    repository's design makes safe (leases expire, unindexed packs are garbage)."""
    if _grace:
        return

    def stop() -> None:
        message = (
            f"s3vault: still stopping {seconds:.0f} s after the signal ({what}): exit 130 "
            "without waiting for it\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
        os._exit(130)

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    _grace.append(timer)
    timer.start()


def wait_longer_to_stop(seconds: float, what: str) -> None:
    """Give a stopping command ``seconds`` from now instead of STOP_GRACE (``run``, waiting
    for a step that has STOP_GRACE of its own: it gave up first, and the step outlived it)."""
    while _grace:
        _grace.pop().cancel()
    _stop_anyway(seconds, what)


def _interrupt_once(_signum: int, _frame: FrameType | None) -> None:
    """After the work: the first SIGINT, SIGTERM or SIGHUP interrupts what is being written,
    the next ones are ignored (Ctrl-C twice, or Ctrl-C and a supervisor's TERM)."""
    for signum in _STOPPING:  # _ignore, not SIG_IGN: a signal already pending would raise
        if signal.getsignal(signum) is not signal.SIG_IGN:  # "ignored due to race condition"
            signal.signal(signum, _ignore)
    streams.stopping()
    raise KeyboardInterrupt


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A signal noted and ignored."""


def _short_of(exc: Exception) -> str | None:
    """What the machine ran short of, said as such rather than as an internal error: file
    descriptors (``ulimit -n``) or memory (``ulimit -v``, or the machine's). Fewer ``--jobs``
    are suggested where the command ran more than one worker process."""
    fewer = ", or run with fewer --jobs" if most_workers() > 1 else ""
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return (
            f"too many open files ({exc.strerror}; this process may open {soft}): raise the "
            f"limit (ulimit -n 1024){fewer}"
        )
    no_thread = isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)
    if (
        isinstance(exc, MemoryError)
        or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM)
        or no_thread  # a thread's stack did not fit in what was left
    ):
        return out_of_memory_message(fewer)
    return None


def _fail(ctx: CliContext, message: str, code: int) -> int:
    if ctx.json:
        emit_error(message, code)
    else:
        ctx.err.print(f"Fatal: {message}", markup=False)
    return code


def _with_way_out(message: str, code: int) -> str:
    """Damage (exit 13) always comes with what to run: most messages say it themselves; the
    rest point at verify, which names the damage and the fix for each object (not where the
    message names the way out already: verify could only say the same of a damaged config)."""
    if code != ExitCode.DAMAGED or "s3vault " in message or "troubleshooting.md" in message:
        return message
    return (
        f"{message} (`s3vault verify` names what is damaged and what to run for it; "
        "docs/troubleshooting.md, 'When the repository is damaged')"
    )


def _tune_malloc() -> None:
    """glibc's malloc for a process that passes megabyte buffers between threads (no effect
    where glibc's mallopt is missing):

    - two arenas instead of one per thread: per-thread arenas kept the freed buffers, inflating
      the peak RSS by tens of MiB (measured in docs/performance.md);
    - buffers up to 32 MiB (packs, ranges, chunks) from the arenas, and up to 64 MiB of free
      memory kept at an arena's top: by default glibc gave large buffers their own maps and
      gave freed memory back, so every pack range a restore read came in fresh pages, each
      faulted and zeroed (203,000-229,000 page faults in a restore of the bench corpus,
      73,000-75,000 after; 3.09-3.26 s against 3.26-3.37 s, 3 rounds alternating; peak RSS
      111-113 MiB against 105-106 MiB, restic's 129-153).

    Under an address-space limit (``ulimit -v``) one arena and glibc's thresholds: a second
    arena reserves 64 MiB of address space, and where that failed a thread had no arena at
    all; its first small allocation failed, and OpenSSL's error handling of that failure
    allocates again, recursing until the thread's stack overflowed (SIGSEGV, 238,000 frames
    deep, in 1 of 20 `verify --read-data` runs at 70 MiB) where the command would have said
    "out of memory"."""
    limited = resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_ARENA_MAX, 1 if limited else 2)
        if not limited:
            libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
            libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):
        pass


def _warn_unwritten(ctx: CliContext, done: bool) -> None:
    """One warning line (one JSON warning with --json) for everything this command could not
    write beside its work: records the store refused, the local cache, and (``done``: the
    command did its work) its report on standard output. Records refused
    for the same reason are named together with the first one's message (a backend's
    message is ``<operation> <object>: <reason>``: the reason after the object is compared)."""
    whats: list[str] = []
    parts: list[str] = []
    by_reason: dict[str, tuple[str, list[str]]] = {}
    for what, why in ctx.invocation.unwritten.items():
        by_reason.setdefault(why.partition(": ")[2] or why, (why, []))[1].append(what)
    for why, names in by_reason.values():
        whats += names
        verb = "was" if len(names) == 1 else "were"
        parts.append(f"{' and '.join(names)} {verb} not written: {why}")
    report = streams.lost(1)
    if isinstance(report, OSError) and not isinstance(report, BrokenPipeError) and done:
        # the work is done, its report is lost (`backup >> /full/log`): said on stderr, also
        # with --json; a reader that went away (`| head`) chose to read no more
        why = f"the command's report was not written: {report.strerror or report}"
        if ctx.json:
            line = {"message_type": "warning", "item": "standard output", "message": why}
            sys.stderr.write(json_line(line, sys.stderr))
        else:
            ctx.err.print(f"warning: standard output: {why}", markup=False)
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
    """A warning after the command: a JSON warning object with --json (on stderr after the
    restic-shaped array of snapshots or key list: after it on stdout, the array no longer
    parsed), else a stderr line."""
    if ctx.json:
        warn(ctx, item, message)
    else:
        ctx.err.print(f"warning: {message}", markup=False)


def _command_of(args: list[str]) -> str:
    """The command an argument list runs (its first word that names one)."""
    return next((a for a in args if a in cli.commands), "")


def _write_metrics(
    ctx: CliContext, run: Invocation, code: int, args: list[str], duration: float
) -> None:
    """--metrics-file, --cloudwatch-namespace: this command's figures (a failure to write them
    is a warning, never a different exit code)."""
    command = _command_of(args)
    if not command or not (ctx.metrics_file or ctx.cloudwatch_namespace):
        return
    target = MetricsTarget(
        file=ctx.metrics_file,
        cloudwatch_namespace=ctx.cloudwatch_namespace,
        backend=backend_options(ctx),
    )
    labels = {
        "command": command,
        "profile": ctx.profile.name if ctx.profile is not None else "",
        "repository": ctx.repository,
    }
    problems = publish_metrics(
        target,
        labels=labels,
        values=run.metrics.values if run.metrics is not None else {},
        exit_code=code,
        duration=duration,
        now=SystemClock().now().timestamp(),
    )
    for item, message in problems:
        _warn(ctx, item, message)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``s3vault`` command."""
    _tune_malloc()
    streams.install()  # before anything opens a file: descriptors 0-2 are taken
    signal.signal(signal.SIGINT, _on_sigterm)  # (a caller running main again)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup's stays
        signal.signal(signal.SIGHUP, _on_sigterm)  # a dropped ssh session: as SIGTERM
    args = sys.argv[1:] if argv is None else argv
    with invocation(args) as run:
        streams.keep_working_when(lambda: run.note is not None)
        code = _run(run, argv)
    logging.shutdown()
    _exit_code_on_signal(code)
    # The interpreter's exit runs a full collection over every object the command made: 0.25 s
    # after a restore of the bench corpus (its plan), 0.04 s after a backup or a verify, for
    # nothing (reference counting frees them; s3vault/collector.py). Frozen, they are left out.
    gc.freeze()
    crash_point("before-exit")
    sys.exit(code)


def _exit_code_on_signal(code: int) -> None:
    """From here the work and its records are done: a SIGINT or SIGTERM while the interpreter
    shuts down ends the process with the run's exit code (what it printed flushed first), not
    by the signal with nothing said (a cron job would take a saved backup for a failed one)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()

    def leave(_signum: int, _frame: FrameType | None) -> None:
        os._exit(code)

    stopping = [s for s in _STOPPING if signal.getsignal(s) is not signal.SIG_IGN]
    for signum in stopping:
        signal.signal(signum, leave)

    def ignore() -> None:
        """The interpreter's last steps (the first exit function to run: registered last)
        hand a Python handler back to the signal's default action, which kills: ignored
        instead (CPython leaves an ignored signal so), the process ends with ``code``."""
        for signum in stopping:
            signal.signal(signum, signal.SIG_IGN)

    atexit.register(ignore)


def _shown_whole(ctx: CliContext, code: int) -> int:
    """``code``, or 1 for a command that only shows something (it changed nothing) whose
    output was lost when it was flushed at the end, saying so as it does for a write that
    fails on the way: `snapshots --json > /full/disk/f` exited 0 with a warning (buffered
    output; 1 under PYTHONUNBUFFERED=1), and a script took the cut-off file for all of it."""
    if code not in (ExitCode.OK, ExitCode.PARTIAL) or streams.changing():
        return code  # (run: its steps change the repository)
    lost = streams.lost(1)
    if not isinstance(lost, OSError) or isinstance(lost, BrokenPipeError):
        return code
    return _fail(ctx, f"cannot write to standard output: {lost.strerror or lost}", ExitCode.FATAL)


def _doubted(ctx: CliContext, code: int, failure: str | None) -> tuple[int, str | None]:
    """``code``, or the exit code of what the result may have wrong for the objects it
    passed over (``Repository.doubts``: `restore latest` with the newest snapshot file
    damaged restored the one before it and exited 0), each said as the last warning; and
    ``failure``, or the doubts where they set the code (the audit record says why)."""
    doubts = _doubts(ctx)
    if not doubts:
        return code, failure
    for what in doubts:  # said whatever the exit code: why the result is what it is
        _warn(ctx, "result", what)
    if code not in (ExitCode.OK, ExitCode.PARTIAL):
        return code, failure
    return max(doubts.values()), failure or "; ".join(doubts)


def _doubts(ctx: CliContext) -> dict[str, int]:
    """The doubts of the repositories the command opened (``Repository.doubts``)."""
    doubts: dict[str, int] = {}
    for repo in (ctx.read_from, ctx.opened):
        if repo is not None:
            doubts.update(repo.doubts)
    return doubts


def _stopped(exc: BaseException) -> tuple[str, int]:
    """What a command that stopped short says, and its exit code: interrupted (a signal,
    ^C, ^D at a prompt), except an EOFError from anywhere, which click also turns into an
    Abort: an internal error (a compiled module cut short gave "interrupted", exit 130)."""
    eof = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else None
    if isinstance(eof, EOFError):
        return f"internal error: EOFError: {eof}", ExitCode.FATAL
    return "interrupted", ExitCode.INTERRUPTED


def _run(run: Invocation, argv: list[str] | None) -> int:
    """Run the command inside its invocation; then its audit record, the warning line for
    what was not written, and the metrics. Returns the exit code."""
    ctx = CliContext(invocation=run)
    started = SystemClock().monotonic()
    code: int
    failure: str | None = None  # what an error said (None: the code's meaning, finish)
    error: S3VaultError | None = None
    asked_json = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=argv, prog_name="s3vault", standalone_mode=False, obj=ctx)
        code = result if isinstance(result, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as raised:
        usage = _restic_option(raised)
        if ctx.json or asked_json:
            emit_error(usage.format_message(), ExitCode.USAGE)  # a JSON object, as every error
        else:
            usage.show()
        code = ExitCode.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort, _Interrupted) as exc:
        failure, code = _stopped(exc)
        ctx.json = ctx.json or asked_json  # a stop before the options were parsed (an attack pass)
        code = _fail(ctx, failure, code)
    except S3VaultError as exc:
        failure, error = _with_way_out(str(exc), exc.exit_code), exc
        if isinstance(exc, NoPasswordError):
            failure += restic_variables_note("RESTIC_PASSWORD")  # restic's cron line
        code = _fail(ctx, failure, exc.exit_code)
    except Exception as exc:  # an s3vault bug: say so, show the traceback with -v
        if ctx.verbose:
            traceback.print_exc()
        failure = _short_of(exc) or f"internal error: {type(exc).__name__}: {exc}"
        code = _fail(ctx, failure, ExitCode.FATAL)
    run.cache_dir = ctx.cache_path()
    code = _shown_whole(ctx, code)
    code, failure = _doubted(ctx, code, failure)
    for signum in _STOPPING:  # a second signal cannot interrupt the handling of the first
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _interrupt_once)
    try:
        run.finish(int(code), failure, error)
        _warn_unwritten(ctx, int(code) in (ExitCode.OK, ExitCode.PARTIAL))
        _write_metrics(
            ctx, run, int(code), list(run.arguments), SystemClock().monotonic() - started
        )
    except KeyboardInterrupt:  # the work is done and its exit code stands (130 says none was)
        _warn(
            ctx,
            "audit",
            "interrupted after the command's work: its audit record or metrics may not be written",
        )
    return int(code)
