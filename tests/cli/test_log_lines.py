"""-v off a terminal (cron, journald, a pipe): plain log lines, ISO 8601 time, level, logger,
message; no ANSI escapes and no rich layout (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import RunCli, write_file

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
LINE = re.compile(rf"^{TIME} (DEBUG|INFO|WARNING|ERROR) s3vault[\w.]*: \S")


def test_verbose_lines_are_plain_text_off_a_terminal(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = write_file(tmp_path / "src" / "a.txt", b"a\n").parent
    done = run_cli("-r", cli_repo, "-v", "backup", str(src), "-q")
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines, "-v said nothing"
    assert all(LINE.match(line) for line in lines), lines
    assert "\x1b" not in done.stderr
    assert any(" INFO s3vault.repository.repository: index: " in line for line in lines)


def test_the_librarys_warnings_are_json_with_json_and_warning_lines_without(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A warning the library logs (a prune taking over a dead holder's lease) was a bare line
    on stderr (Python's last-resort handler), with --json too, where a parser reads one JSON
    object a line (an attack pass, 2026-12-07). With --json it is a ``warning`` object, as
    every other; without, a ``warning:`` line; with -v -json the INFO records are ``log``
    objects."""
    crash = {**cli_env, "S3VAULT_TEST_CRASH_AT": "prune-after-plan"}
    taken = "took over the maintenance lease"
    for argv in (("--json", "prune"), ("prune",)):
        assert run_cli("-r", cli_repo, "prune", env=crash).code == -9  # its lease is left
        done = run_cli("-r", cli_repo, *argv)
        assert done.code == 0, done.stderr
        if "--json" not in argv:
            assert f"warning: {taken}" in done.stderr, done.stderr
            continue
        objects = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()]
        warnings = [o for o in objects if o["message_type"] == "warning"]
        assert any(taken in o["message"] for o in warnings), objects
    done = run_cli("-r", cli_repo, "--json", "-v", "backup", str(cli_repo))
    assert done.code == 0, done.stderr
    objects = [json.loads(line) for line in (done.stdout + done.stderr).splitlines()]
    logged = [o for o in objects if o["message_type"] == "log" and o["level"] == "info"]
    assert any(o["message"].startswith("index: ") for o in logged), objects
