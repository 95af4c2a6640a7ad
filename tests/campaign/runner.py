"""Runs the real CLI entry point (``s3vault.cli.main``, what the ``s3vault`` console script calls)
many times in one long-lived child process, so that a command costs its own work and not an
interpreter start and the imports (about 0.4 s of CPU each, which would make the campaign's
thousands of commands take an hour).

Each request gets what a fresh process would: its own environment, working directory, empty stdin,
and stdout/stderr captured as a subprocess's pipes are (not terminals). Two things are shared on
purpose: botocore's parsed service models (JSON files it reads for every new client, about 0.3 s of
CPU per command; they are the same files for every command, and botocore already shares them between
the clients of one session: tests/botomodels.py); and the key-encryption key derived from a password
and a key file's KDF parameters (``_remember_derived_keys``). The child keeps the traceback of every
``internal error`` (which ``main`` shows only with ``-v``) so a report can say where it came from,
and reports an exception that escapes ``main`` as the traceback Python would print. A command that
hangs is killed with its child after a timeout; a new child serves the next request. A child that
dies on its own (a native crash: faulthandler writes every thread's stack to its log) is not what a
user runs, so the command is run again as its own process of the console script, what a user does
run, and that is its outcome; the crash rides along (``Outcome.runner_crash``) for the report to
tell. ``S3VAULT_CAMPAIGN_SUBPROCESS=1`` runs every command as its own subprocess of the console
script instead (slower; for a check that both agree)."""

from __future__ import annotations

import faulthandler
import io
import json
import os
import resource
import select
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.botomodels import share_parsed_models

S3VAULT = str(Path(sys.executable).with_name("s3vault"))


@dataclass
class Outcome:
    """One command's result, as a subprocess would give it, plus what the child saw."""

    code: int
    stdout: str
    stderr: str
    trace: str = ""  # the traceback behind an internal error or an escaped exception
    seconds: float = 0.0
    runner_crash: str = ""  # the long-lived child died running it: how, and where (its log)


class CliWorker:
    """A child process that runs CLI commands one after another (or, in subprocess mode, a
    factory of one subprocess per command)."""

    def __init__(self, log: Path, *, subprocess_mode: bool | None = None) -> None:
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        if subprocess_mode is None:
            subprocess_mode = os.environ.get("S3VAULT_CAMPAIGN_SUBPROCESS") == "1"
        self.subprocess_mode = subprocess_mode
        self.commands = 0

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            with self._log.open("ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.campaign.runner"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=Path(__file__).parents[2],
                )
        return self._proc

    def run(
        self, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120
    ) -> Outcome:
        """Run ``s3vault ARGV`` and return its exit code and output."""
        self.commands += 1
        if self.subprocess_mode:
            return self._subprocess(argv, env=env, cwd=cwd, timeout=timeout)
        start = time.monotonic()
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        request = {"argv": argv, "env": env, "cwd": str(cwd)}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b""
        if not line:  # hung (killed here) or died on its own
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._proc = None
            if not ready:
                return Outcome(
                    -9, "", "campaign runner: timed out", seconds=time.monotonic() - start
                )
            again = self._subprocess(argv, env=env, cwd=cwd, timeout=timeout)
            again.runner_crash = f"the child died with {proc.returncode}\n{self._log_tail()}"
            return again
        reply = json.loads(line)
        if reply.get("harness_error"):  # not the command's doing: stop the campaign
            raise RuntimeError(f"campaign runner could not run {argv}: {reply['harness_error']}")
        return Outcome(
            reply["code"],
            reply["stdout"],
            reply["stderr"],
            reply["trace"],
            seconds=time.monotonic() - start,
        )

    def _subprocess(
        self, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float
    ) -> Outcome:
        start = time.monotonic()
        try:
            done = subprocess.run(
                [S3VAULT, *argv],
                capture_output=True,
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return Outcome(-9, "", "campaign runner: timed out", seconds=time.monotonic() - start)
        stderr = done.stderr.decode(errors="replace")
        if done.returncode < 0:  # killed by a signal: "hung or died" (-9), and which signal
            stderr += f"\ncampaign runner: the process died with {done.returncode}"
        return Outcome(
            done.returncode if done.returncode >= 0 else -9,
            done.stdout.decode(errors="replace"),
            stderr,
            seconds=time.monotonic() - start,
        )

    def _log_tail(self, size: int = 8000) -> str:
        """The end of the child's log: after a crash, faulthandler's dump of every thread."""
        try:
            with self._log.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - size))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the child (it ends when its stdin closes)."""
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def crash_site(crash: str) -> str:
    """How the child died and the innermost frame of the thread that crashed, from
    ``Outcome.runner_crash`` (faulthandler's "Current thread" block)."""
    how, _, dump = crash.partition("\n")
    lines = dump.splitlines()
    current = [n for n, line in enumerate(lines) if line.startswith("Current thread")]
    frame = lines[current[-1] + 1].strip() if current and current[-1] + 1 < len(lines) else ""
    return f"{how} at {frame or 'an unknown place'}; run again as its own process"


# The child ------------------------------------------------------------------------------------


def _remember_derived_keys() -> None:
    """The key-encryption key of a (password, KDF parameters) pair is derived once and then
    remembered: every command of the campaign opens a copy of the same template with the same
    password, so without this each spent about 30 ms of CPU on the same Argon2id derivation
    (the "minimum" cost), a third of a small command's work. A key file whose parameters a
    damage changed (salt, memory, iterations) is a new pair and is derived for real; what is
    returned is always what Argon2id returns for that pair."""
    from s3vault.crypto import kdf

    derive = kdf.derive_kek
    known: dict[tuple[bytes, object], bytes] = {}

    def derive_kek(password: bytes, params: kdf.KdfParams) -> bytes:
        key = (bytes(password), params)
        if key not in known:
            known[key] = derive(password, params)
        return known[key]

    kdf.derive_kek = derive_kek  # type: ignore[assignment, unused-ignore]


def _serve() -> None:
    """Read requests (JSON lines) on stdin, answer on the original stdout. fd 1 is pointed at
    stderr so that nothing but answers reaches the parent that way."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    faulthandler.enable(all_threads=True)  # a native crash leaves every thread's stack in the log
    import s3vault.cli as cli_module

    share_parsed_models()
    _remember_derived_keys()

    cmdlog = os.environ.get("S3VAULT_TEST_CMDLOG")  # as tests/cliserver.py: a line per command
    traces: list[str] = []
    original_fail = cli_module._fail

    def fail(ctx: object, message: str, code: int) -> int:
        if message.startswith("internal error"):  # main() is inside its except clause here
            traces.append(traceback.format_exc())
        return original_fail(ctx, message, code)  # type: ignore[arg-type, unused-ignore]

    cli_module._fail = fail  # type: ignore[assignment, unused-ignore]
    for line in sys.stdin:
        request = json.loads(line)
        traces.clear()
        try:
            env = request["env"]
            os.environ.clear()
            os.environ.update(env)
            os.chdir(request["cwd"])
        except OSError as exc:  # e.g. the test's directory was removed under it
            answers.write(json.dumps({"harness_error": str(exc)}) + "\n")
            answers.flush()
            continue
        start, usage = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        code, out, err, escaped = _run_one(cli_module, request["argv"])
        if cmdlog:
            _log_cost(cmdlog, request["argv"], time.monotonic() - start, usage)
        answers.write(
            json.dumps(
                {"code": code, "stdout": out, "stderr": err, "trace": escaped or "".join(traces)}
            )
            + "\n"
        )
        answers.flush()


def _log_cost(path: str, argv: list[str], wall: float, before: resource.struct_rusage) -> None:
    """One line of the command log: argv, wall seconds and the CPU seconds it cost."""
    now = resource.getrusage(resource.RUSAGE_SELF)
    line = {
        "argv": argv,
        "wall": wall,
        "user": now.ru_utime - before.ru_utime,
        "sys": now.ru_stime - before.ru_stime,
    }
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def _run_one(cli_module: object, argv: list[str]) -> tuple[int, str, str, str]:
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    streams = (
        io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8"),
        io.TextIOWrapper(out, encoding="utf-8", errors="replace", write_through=True),
        io.TextIOWrapper(err, encoding="utf-8", errors="replace", write_through=True),
    )
    sys.stdin, sys.stdout, sys.stderr = streams  # kept referenced: a dropped one closes its buffer
    escaped = ""
    try:
        cli_module.main(list(argv))  # type: ignore[attr-defined]
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what Python would print on its way out, and exit 1
        escaped = traceback.format_exc()
        sys.stderr.write(escaped)
        code = 1
    finally:
        for stream in streams:
            stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    text = out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")
    return code, *text, escaped


if __name__ == "__main__":
    _serve()
