"""Where the repository password comes from, in order: --kms ($S3VAULT_KMS=1: no password, a
KMS key file), --recovery-key-file ($S3VAULT_RECOVERY_KEY_FILE: a recovery key instead of a
password), --password-file ($S3VAULT_PASSWORD_FILE), --password-command
($S3VAULT_PASSWORD_COMMAND), $S3VAULT_PASSWORD, a prompt on a terminal.
Never from argv. Without a terminal and without a source, no password: the repository is then
opened through a KMS key file if it has one, else the error says which sources exist (no
hidden prompt under cron)."""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time

import click

from s3vault import NoKeyError, NoPasswordError, UsageError, decode_recovery_key
from s3vault.cli.context import CliContext


def _strip(raw: bytes) -> bytes:
    """Without the last line's end (\\n or \\r\\n, as a password file's first line)."""
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    return raw[:-1] if raw.endswith(b"\r") else raw


def _first_line(raw: bytes) -> bytes:
    """A password file's password: its first line, without the line's end (\\n or \\r\\n)."""
    line = raw.split(b"\n", 1)[0]
    return line[:-1] if line.endswith(b"\r") else line


# the sources that name where the password is; a flag beats its own environment variable. A
# recovery key file is not one of them: it is what opens a repository whose password is lost,
# so it wins over any password source (the password file of the usual environment included)
_SOURCES = (
    ("password_file", "--password-file", "S3VAULT_PASSWORD_FILE"),
    ("password_command", "--password-command", "S3VAULT_PASSWORD_COMMAND"),
)


def _one_source(ctx: CliContext) -> dict[str, str]:
    """The password source given (at most one of a password file and a password command;
    S3VAULT_PASSWORD is the fallback after them).

    Raises:
        UsageError: two of them are given (naming both: which one was meant is not a guess).
    """
    given: dict[str, tuple[str, str]] = {}
    for attr, flag, env in _SOURCES:
        value = getattr(ctx, attr)
        if value is not None:  # an empty one given is refused, not taken for none given
            given[attr] = (flag, value)
        elif os.environ.get(env):
            given[attr] = (env, os.environ[env])
    if len(given) > 1:
        names = [name for name, _ in given.values()]
        msg = f"{' and '.join(names)} both say where the password is: give one"
        raise UsageError(msg)
    return {attr: value for attr, (_, value) in given.items()}


def _read_file(path: str, what: str) -> bytes:
    """The contents of a secret's file.

    Raises:
        UsageError: it cannot be read (the message says which file and why).
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        msg = f"cannot read {what} {path}: {exc.strerror}"
        raise UsageError(msg) from None


COMMAND_TIMEOUT = 120.0  # seconds a password command may take (docs/usage.md)


def _from_command(command: str) -> bytes:
    """What the password command wrote to its standard output by the time it exited 0 (its
    stderr is not shown: it could hold the secret). The end of the output is not waited for
    once the command has exited: a child it left running (``sh -c 'agent & echo pw'``) may
    hold the pipe open, and the command waited 120 s for it, then failed.

    Raises:
        UsageError: the command cannot be split into words (an unclosed quote).
        NoKeyError: it cannot start, fails, or takes longer than COMMAND_TIMEOUT.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # not echoed: the command line may hold the secret itself
        msg = f"the password command cannot be split into words ({exc}): quote it as sh would"
        raise UsageError(msg) from None
    if not argv:
        raise UsageError("the password command is empty")
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        msg = f"password command failed: {exc}"
        raise NoKeyError(msg) from None
    try:
        out = _output(proc)
        try:  # the end of its output comes just before its exit: wait for that
            proc.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            msg = f"password command failed: it did not exit within {COMMAND_TIMEOUT:.0f} seconds"
            raise NoKeyError(msg) from None
    finally:
        if proc.poll() is None:  # it failed by taking too long: it and what it started end
            _kill_tree(proc.pid)
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    if proc.returncode != 0:
        code = proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        msg = f"password command {how}"
        raise NoKeyError(msg)
    return _strip(out)


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every process below it (a ``sh -c 'cmd; sleep 1000'`` that took
    too long had left its ``sleep`` running, reparented to init: an attack pass, 2026-12-07).
    Its descendants are found in /proc before any is killed (a killed parent's children are
    reparented at once); where /proc cannot be read, the process alone."""
    parents: dict[int, int] = {}
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        # after the command's name, in parentheses: state, then the parent
                        fields = f.read().rsplit(b")", 1)[1].split()
                    parents[int(entry.name)] = int(fields[1])
                except (OSError, IndexError, ValueError):
                    continue  # gone meanwhile
    except OSError:
        pass
    doomed, todo = [pid], [pid]
    while todo:
        here = todo.pop()
        children = [child for child, parent in parents.items() if parent == here]
        doomed += children
        todo += children
    for victim in doomed:
        with contextlib.suppress(OSError):
            os.kill(victim, signal.SIGKILL)


def _output(proc: subprocess.Popen[bytes]) -> bytes:
    """Read the command's output: once it has exited, what it printed before is all when it
    printed something or failed (a child it left may hold the pipe for ever); after a silent
    exit 0 a child it left may print the password: read until its first whole line or its
    end (restic reads to the end).

    Raises:
        NoKeyError: no end within COMMAND_TIMEOUT.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    out = bytearray()
    deadline = time.monotonic() + COMMAND_TIMEOUT
    to_the_end = False  # a silent exit 0: its child's output is read to its end
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not to_the_end and proc.poll() is not None:
                while sel.select(0):  # what it wrote before its exit is in the pipe now
                    if not (chunk := os.read(fd, 65536)):
                        return bytes(out)
                    out += chunk
                if out or proc.returncode != 0:
                    return bytes(out)
                to_the_end = True
            if sel.select(min(left, 0.05)):
                if not (chunk := os.read(fd, 65536)):
                    return bytes(out)  # the end of its output
                out += chunk
                if to_the_end and b"\n" in out:  # a whole line from the child: the password
                    return bytes(out[: out.index(b"\n") + 1])
    if proc.poll() is None:
        what = "did not exit"
    else:
        what = "did not end its output" if out else "printed no password"
    msg = f"password command failed: it {what} within {COMMAND_TIMEOUT:.0f} seconds"
    raise NoKeyError(msg)


MISSING_SOURCE_HELP = (
    "no password: use --password-file, --password-command or S3VAULT_PASSWORD "
    "(there is no terminal to prompt on), or --kms with a KMS key file"
)


def wants_kms(ctx: CliContext) -> bool:
    """--kms or S3VAULT_KMS=1."""
    return bool(ctx.kms) or os.environ.get("S3VAULT_KMS", "") not in ("", "0")


def read_password(ctx: CliContext, *, confirm: bool = False, optional: bool = False) -> bytes:
    """The password for the repository; with ``optional``, b"" when --kms is asked for or no
    source exists and there is no terminal (the caller then tries KMS key files).

    Raises:
        NoKeyError: no source gave a (non-empty) password.
    """
    if optional and wants_kms(ctx):
        return b""
    recovery_file = ctx.recovery_key_file or os.environ.get("S3VAULT_RECOVERY_KEY_FILE")
    source = {} if recovery_file else _one_source(ctx)
    password_file = source.get("password_file")
    command = source.get("password_command")
    if recovery_file:
        text = _read_file(recovery_file, "recovery key file").decode("ascii", errors="replace")
        return decode_recovery_key(text)
    if password_file is not None:
        password = _first_line(_read_file(password_file, "password file"))
        empty = f"the first line of password file {password_file} is empty"
    elif command is not None:
        password = _from_command(command)
        empty = "the password command printed nothing on standard output"  # not named: secret?
    elif "S3VAULT_PASSWORD" in os.environ:
        password = os.environ["S3VAULT_PASSWORD"].encode()
        empty = "S3VAULT_PASSWORD is empty"
    elif sys.stdin.isatty():
        text = click.prompt(
            "enter password for repository", hide_input=True, confirmation_prompt=confirm
        )
        password = str(text).encode()
        empty = "the password typed is empty"
    elif optional:
        return b""
    else:
        raise NoPasswordError(MISSING_SOURCE_HELP)
    if not password:
        raise NoKeyError(f"an empty password is not allowed: {empty}")
    return password


def secret_kind(ctx: CliContext) -> str:
    """The kind of key file the secret ``read_password`` gives is for: "recovery" for a
    recovery key file, else "password" (which key files are tried first)."""
    if ctx.recovery_key_file or os.environ.get("S3VAULT_RECOVERY_KEY_FILE"):
        return "recovery"
    return "password"


def read_new_password(new_password_file: str | None) -> bytes:
    """A new password (``key add``, ``key passwd``): --new-password-file, $S3VAULT_NEW_PASSWORD,
    or a prompt with confirmation on a terminal.

    Raises:
        UsageError: no source, an unreadable file or an empty password.
    """
    if new_password_file:
        password = _first_line(_read_file(new_password_file, "new password file"))
    elif "S3VAULT_NEW_PASSWORD" in os.environ:
        password = os.environ["S3VAULT_NEW_PASSWORD"].encode()
    elif sys.stdin.isatty():
        text = click.prompt("enter the new password", hide_input=True, confirmation_prompt=True)
        password = str(text).encode()
    else:
        msg = "no new password: use --new-password-file or S3VAULT_NEW_PASSWORD"
        raise UsageError(msg)
    if not password:
        raise UsageError("an empty password is not allowed")
    return password


def read_target_password(
    to_password_file: str | None, profile: CliContext | None, fallback: tuple[bytes, str]
) -> tuple[bytes, str]:
    """A copy target's secret and its kind (``secret_kind``'s words): --to-password-file,
    $S3VAULT_TO_PASSWORD, the target profile's password file or command, recovery key file
    or KMS (b"": its KMS key files are tried), else ``fallback`` (the source's). A profile's
    recovery key or KMS had been passed over for the source's password (an attack pass,
    2026-12-07).

    Raises:
        UsageError, NoKeyError: a file or command that gives nothing usable.
    """
    if to_password_file:
        password = _first_line(_read_file(to_password_file, "target password file"))
    elif os.environ.get("S3VAULT_TO_PASSWORD"):
        password = os.environ["S3VAULT_TO_PASSWORD"].encode()
    elif profile is not None and profile.password_file:
        password = _first_line(_read_file(profile.password_file, "target password file"))
    elif profile is not None and profile.password_command:
        try:
            password = _from_command(profile.password_command)
        except NoKeyError as exc:  # said as the target's, not as the source's own command
            raise NoKeyError(f"the target profile {profile.profile_name!r}'s {exc}") from None
    elif profile is not None and profile.recovery_key_file:
        text = _read_file(profile.recovery_key_file, "target recovery key file")
        return decode_recovery_key(text.decode("ascii", errors="replace")), "recovery"
    elif profile is not None and profile.kms:
        return b"", "password"
    else:
        return fallback
    if not password:
        raise NoKeyError("an empty target password is not allowed")
    return password, "password"
