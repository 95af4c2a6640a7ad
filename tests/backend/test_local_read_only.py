"""LocalBackend on a directory it may not write (a read-only mount, a directory of another
user): every write raises AccessDeniedError saying so, never a bare OSError (the cleanup of a
temporary file that was never made used to raise EROFS over the real error), nothing is left
behind, and reads go on."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.local import LocalBackend
from s3vault.clock import SystemClock
from s3vault.errors import AccessDeniedError
from tests.readonly import unwritable


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("kind", ["mount", "chmod"])
def test_writes_to_a_read_only_directory_raise_access_denied(tmp_path: Path, kind: str) -> None:
    writable = LocalBackend(tmp_path / "repo")
    writable.put("config", b"c")
    writable.put("data/ab/abc", b"pack")
    writable.put("locks/lease", b"lease")
    before = _files(tmp_path / "repo")
    with unwritable(tmp_path / "repo", kind) as root:
        backend = LocalBackend(root)
        words = "read-only file system" if kind == "mount" else "permission denied"
        writes = {
            "put in an existing directory": lambda: backend.put("data/ab/abd", b"x"),
            "put in a new directory": lambda: backend.put("snapshots/1234", b"x"),
            "delete": lambda: backend.delete("data/ab/abc"),
            "replace": lambda: backend.replace(
                "locks/lease", b"new", backend.stat("locks/lease").version
            ),
        }
        for what, write in writes.items():
            with pytest.raises(AccessDeniedError) as caught:
                write()
            message = str(caught.value)
            assert words in message and str(root) in message, (what, message)
        # the clock: the file system's is read from a probe file this host cannot write, so
        # its own is the answer (whoever asks here only reads: prune --dry-run, doctor)
        assert abs(backend.server_time() - SystemClock().now().timestamp()) < 60
        assert backend.get("data/ab/abc") == b"pack"
        assert [i.name for i in backend.list("data/")] == ["data/ab/abc"]
    assert _files(tmp_path / "repo") == before
