"""A backup that runs short itself (memory, file descriptors) stops; it never takes that for a
problem of the file or directory it was reading (an attack pass, 2026-12-07: under
`ulimit -v` a backup warned "big.bin: read error: Cannot allocate memory", saved a snapshot
without its largest file and exited 3, which the shipped systemd unit counts as success)."""

from __future__ import annotations

import errno
import gc
import os
import resource
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.format.packfile import BlobType
from s3vault.repository.packer import PackWriter
from tests.conftest import RepoHandle


def test_a_pack_buffer_the_system_cannot_give_is_out_of_memory_not_an_os_error(
    local_repo: RepoHandle,
) -> None:
    """The archiver takes an OSError while reading a file for that file's read error; the
    pack buffer's ENOMEM (a real one here: more address space than the machine has) must
    reach the command as what it is."""
    repo = local_repo.open()
    writer = PackWriter(BlobType.DATA, repo.sealer, 1 << 62)
    with pytest.raises(MemoryError, match="pack buffer"):
        writer.add(repo.sealer.blob_id(b"x"), b"sealed", 1)


def _backup_with_no_descriptor_left(handle: RepoHandle, src: Path) -> int:
    """In a forked child: open the repository, allow no further descriptor, back up. Exit
    status: 0 the backup raised EMFILE; 1 it went on; 2 it failed otherwise."""
    repo = handle.open()
    gc.collect()  # a file an earlier test leaked, closed later by the collector, freed a slot:
    gc.disable()  # the backup went on (exit 1) in a full run now and then
    # The limit is on descriptor numbers, not on how many are open: every free number below
    # it is taken first (a hole an earlier test left below the highest open one let the
    # backup go on: a whole-suite run, 2026-12-07).
    highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (highest + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )
    taken = []
    while True:
        try:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            if exc.errno != errno.EMFILE:
                raise
            break
    try:
        backup(repo, BackupOptions(paths=(str(src),), jobs=1, host="h", force=True))
    except OSError as exc:
        return 0 if exc.errno == errno.EMFILE else 2
    except Exception:
        return 2
    return 1


def test_a_backup_out_of_descriptors_stops_instead_of_skipping_what_it_cannot_open(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """Old: "cannot list directory: Too many open files" (a warning: the directory left
    out), then whatever storing met. Now the EMFILE itself ends the backup, before anything
    is stored: the command says "too many open files", raise the limit."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    packs_before = sorted(Path(local_repo.url).rglob("data/*/*"))
    holes = [os.open(os.devnull, os.O_RDONLY) for _ in range(40)]
    for hole in holes[:-1]:  # holes in the descriptor numbers, as a whole-suite run leaves them
        os.close(hole)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's outcome is its exit status
        code = 2
        try:
            code = _backup_with_no_descriptor_left(local_repo, src)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.close(holes[-1])
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(Path(local_repo.url).rglob("data/*/*")) == packs_before
