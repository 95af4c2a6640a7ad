"""Key derivation from several threads of one process (a library caller opening repositories
at once): OpenSSL's Argon2id with lanes > 1 hung for ever when two threads ran it together
(an attack pass, 2026-12-07). Run in a process of its own, so that a hang fails the test
instead of the worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import os, threading
    from s3vault.crypto.kdf import KdfParams, derive_kek

    params = KdfParams(memory_kib=8 * 1024, iterations=2, lanes=4, salt=bytes(16))
    keys = []
    threads = [
        threading.Thread(target=lambda: keys.append(derive_kek(b"pw", params))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 4 and len(set(keys)) == 1, keys
    print("derived")
    """
)


def test_four_threads_derive_keys_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "derived"), done.stderr
