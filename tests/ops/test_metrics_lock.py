"""write_textfile from many processes at once: every process's last series is in the file
(the read-merge-write of one process never overwrites another's)."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

from s3vault.ops.metrics import write_textfile

PROCESSES, ROUNDS = 20, 25


def _writer(path: str, n: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()
    for r in range(ROUNDS):
        labels = {"command": "backup", "host": f"h{n}"}
        write_textfile(Path(path), labels, {"files_processed": r}, exit_code=0, duration=1, now=r)


def test_concurrent_writers_lose_no_series(tmp_path: Path) -> None:
    path = tmp_path / "s3vault.prom"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_writer, args=(str(path), n, start)) for n in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    text = path.read_text()
    final = re.findall(r's3vault_files_processed\{command="backup",host="(h\d+)"\} (\S+)', text)
    assert sorted(final) == sorted((f"h{n}", f"{ROUNDS - 1:.1f}") for n in range(PROCESSES))
