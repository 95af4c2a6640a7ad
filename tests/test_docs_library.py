"""docs/library.md's Python example runs as it is written (in a process of its own, on a
scratch directory), so the library page cannot rot as the command examples cannot
(tests/test_docs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_docs import DOCS, fenced


def test_the_library_pages_example_runs(tmp_path: Path) -> None:
    blocks = [body for lang, body in fenced((DOCS / "library.md").read_text()) if lang == "python"]
    assert len(blocks) == 1
    env = {**os.environ, "S3VAULT_EXAMPLE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("snapshot ") and lines[0].endswith(" files 1"), lines
    assert lines[1].startswith("refused: ") and lines[1].endswith("exit code 12"), lines
    assert (tmp_path / "out" / str(tmp_path / "src").lstrip("/") / "hello.txt").exists()
