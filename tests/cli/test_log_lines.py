"""-v off a terminal (cron, journald, a pipe): plain log lines, ISO 8601 time, level, logger,
message; no ANSI escapes and no rich layout (issue 17)."""

from __future__ import annotations

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
