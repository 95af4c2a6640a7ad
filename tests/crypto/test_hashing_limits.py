"""crypto/hashing.py under a host's limits. A large storage id was hashed on blake3's threads;
where they could not start (`ulimit -v`: their stacks did not fit) the Rust side panicked: a
Rust backtrace and a Python traceback ended `verify --read-data --jobs 1`, and with
RUST_BACKTRACE=1 the panic hook deadlocked (attack passes, 2026-12-07). It hashes on the
caller's thread: under any limit, the right id or a MemoryError, never a panic or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from blake3 import blake3

DATA_MIB = 8  # what blake3 spread over its threads

CHILD = textwrap.dedent(
    f"""
    import resource, sys
    from s3vault.crypto import hashing
    data = bytes(range(256)) * (({DATA_MIB} << 20) // 256)
    def vm():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    limit = vm() + (int(sys.argv[1]) << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        print(hashing.storage_id(data).hex())
        print(hashing.storage_id(data).hex())  # and again, after a fallback
    except MemoryError:
        print("MemoryError")
    """
)


def test_a_storage_id_under_an_address_space_limit_never_panics() -> None:
    expected = blake3(bytes(range(256)) * ((DATA_MIB << 20) // 256), max_threads=1).hexdigest()
    outcomes = []
    for extra_mib in range(2, 13):  # from too little for the threads' stacks to enough
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(extra_mib)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env={**os.environ, "RUST_BACKTRACE": "1"},
        )
        assert "panicked" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stderr
        lines = done.stdout.split()
        assert lines in (["MemoryError"], [expected, expected]), lines
        outcomes.append(lines[0] == expected)
    assert outcomes[-1], "not even 12 MiB more were enough to hash"
