"""LocalBackend when a write takes only part of its bytes (a disk filling up, a file size
limit): the object is written whole or not at all. ``replace`` (leases, key files, the
repository's markers) wrote once and renamed what it got into place: under a 4 KiB file size
limit a 10 KiB lease became a 4 KiB one, with no error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from s3vault.backend.local import TMP_PREFIX, LocalBackend

_UNDER_A_LIMIT = """
import resource, signal, sys
from pathlib import Path
from s3vault.backend.local import TMP_PREFIX, LocalBackend
from s3vault.errors import BackendError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG
backend = LocalBackend(Path(sys.argv[1]))
version = backend.stat("locks/lease").version
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    backend.replace("locks/lease", b"n" * 10240, version)
except BackendError as exc:
    print("refused:", exc)
try:
    backend.put("data/ab/abcd", b"p" * 10240)
except BackendError as exc:
    print("refused:", exc)
"""


def test_a_write_cut_short_by_a_file_size_limit_stores_nothing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    backend = LocalBackend(root)
    backend.put("locks/lease", b"o" * 100)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_UNDER_A_LIMIT), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused:") == 2, done.stdout
    assert "File too large" in done.stdout
    assert backend.get("locks/lease") == b"o" * 100  # the old lease, whole
    assert not (root / "data" / "ab" / "abcd").exists()
    assert not list(root.rglob(f"{TMP_PREFIX}*"))  # no temporary file left behind
