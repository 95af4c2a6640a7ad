"""RecordTable: fixed-size records found by a 32-byte key, mostly on disk, for 10^7 records.

copy needs two such maps on a repository of 10^7 blobs: the source's data blob locations and
its source → target id map. Held in memory, even as raw records in buckets, they cost 48 and 65
bytes a blob (1.1 GB together); here they cost a few megabytes of resident memory and the rest
is an unnamed temporary file (page cache, not resident set).

Records are grouped by 2^16 buckets of two bytes of their key (keys are keyed hashes: buckets
fill evenly). New records wait in memory buckets (``bytearray``, as BlobSet's) until they hold
``flush_bytes``; then they go to the file as a *run*: the buckets one after another, found
through a directory of 2^16 + 1 offsets (an ``array``, 512 KiB). When there are ``max_runs``
runs, they are merged into one (bucket by bucket: never more than one bucket of every run in
memory). A lookup searches the memory buckets and then one bucket of every run, each read with
one ``pread`` (a few hundred bytes at 10^7 records) and searched with C-speed ``find``.

``find`` answers every record of a key in the order they were added: a multi-map. Not
thread-safe.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path

NBUCKETS = 1 << 16
FLUSH_BYTES = 32 << 20
MAX_RUNS = 6


class RecordTable:
    """Records of ``size`` bytes whose first ``key_size`` bytes are their key, bucketed by the
    key's bytes ``bucket_at`` and ``bucket_at + 1`` (see the module docstring). The temporary
    file goes with the table (``close``, or garbage)."""

    def __init__(
        self,
        size: int,
        key_size: int = 32,
        bucket_at: int = 0,
        *,
        directory: Path | None = None,
        flush_bytes: int = FLUSH_BYTES,
        max_runs: int = MAX_RUNS,
    ) -> None:
        if not 0 <= bucket_at <= key_size - 2 or key_size > size:
            msg = f"a record of {size} bytes, a key of {key_size}, bucketed at {bucket_at}"
            raise ValueError(msg)
        self._size, self._key_size, self._bucket_at = size, key_size, bucket_at
        self._fresh: dict[int, bytearray] = {}
        self._fresh_bytes = 0
        self._flush_bytes, self._max_runs = flush_bytes, max_runs
        self._runs: list[array[int]] = []  # directories, oldest first: NBUCKETS + 1 offsets
        self._directory = directory
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives with the table
        self._end = 0
        self._count = 0

    def __len__(self) -> int:
        """Records added (every record of a key counts)."""
        return self._count

    def _bucket(self, key: bytes) -> int:
        at = self._bucket_at
        return (key[at] << 8) | key[at + 1]

    def add(self, record: bytes) -> None:
        """Add a record (after any other record of its key).

        Raises:
            ValueError: the record is not ``size`` bytes long.
            OSError: the temporary file could not be written.
        """
        if len(record) != self._size:
            msg = f"a record has {self._size} bytes, got {len(record)}"
            raise ValueError(msg)
        b = self._bucket(record)
        bucket = self._fresh.get(b)
        if bucket is None:
            self._fresh[b] = bytearray(record)
        else:
            bucket += record
        self._count += 1
        self._fresh_bytes += self._size
        if self._fresh_bytes >= self._flush_bytes:
            self.flush()

    def find(self, key: bytes) -> list[bytes]:
        """Every record of ``key``, in the order they were added.

        Raises:
            ValueError: ``key`` is not ``key_size`` bytes long.
            OSError: the temporary file could not be read.
        """
        if len(key) != self._key_size:
            msg = f"a key has {self._key_size} bytes, got {len(key)}"
            raise ValueError(msg)
        b = self._bucket(key)
        found: list[bytes] = []
        for run in self._runs:
            start, end = run[b], run[b + 1]
            if end > start:
                self._scan(os.pread(self._file.fileno(), end - start, start), key, found)
        fresh = self._fresh.get(b)
        if fresh is not None:
            self._scan(fresh, key, found)
        return found

    def last(self, key: bytes) -> bytes | None:
        """The record of ``key`` added last, if any."""
        found = self.find(key)
        return found[-1] if found else None

    def _scan(self, bucket: bytes | bytearray, key: bytes, found: list[bytes]) -> None:
        size = self._size
        pos = bucket.find(key)
        while pos != -1:
            if pos % size == 0:
                found.append(bytes(bucket[pos : pos + size]))
            pos = bucket.find(key, pos + 1)

    def flush(self) -> None:
        """Write the memory buckets to the file as a run (merging runs when there are many).

        Raises:
            OSError: the temporary file could not be written.
        """
        if not self._fresh:
            return
        fresh, self._fresh, self._fresh_bytes = self._fresh, {}, 0
        self._runs.append(self._write_run(lambda b: fresh.get(b, b"")))
        if len(self._runs) >= self._max_runs:
            self._merge()

    def compact(self) -> None:
        """Flush, and merge every run into one: each lookup then reads the file once (for a
        table that is filled first and read afterwards).

        Raises:
            OSError: the temporary file could not be written.
        """
        self.flush()
        if len(self._runs) > 1:
            self._merge()

    def _write_run(self, bucket_of: Callable[[int], bytes | bytearray]) -> array[int]:
        """Append a run whose bucket ``b`` is ``bucket_of(b)``; returns its directory."""
        directory = array("Q", [self._end])
        self._file.seek(self._end)
        for b in range(NBUCKETS):
            data = bucket_of(b)
            if data:
                self._file.write(data)
                self._end += len(data)
            directory.append(self._end)
        self._file.flush()
        return directory

    def _merge(self) -> None:
        """Replace every run by one (older records first within each bucket), in a new
        temporary file: the old one goes, so the disk used stays about the records' size."""
        runs, old = self._runs, self._file
        fd = old.fileno()

        def merged(b: int) -> bytes:
            return b"".join(os.pread(fd, r[b + 1] - r[b], r[b]) for r in runs if r[b + 1] > r[b])

        self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115
        self._end = 0
        try:
            self._runs = [self._write_run(merged)]
        finally:
            old.close()

    def close(self) -> None:
        """Remove the temporary file (the table is empty then)."""
        self._file.close()
        self._fresh, self._runs, self._count = {}, [], 0
