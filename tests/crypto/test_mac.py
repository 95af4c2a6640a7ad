"""crypto/mac.py: the same HMAC-SHA256 as the standard library, equality in constant time, and
the reason it exists: a command's peak memory without hashlib's second OpenSSL."""

from __future__ import annotations

import hmac
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto.mac import hmac_sha256, same


@given(st.binary(max_size=200), st.binary(max_size=2000))
def test_hmac_sha256_is_rfc_2104_as_the_standard_library_computes_it(
    key: bytes, data: bytes
) -> None:
    assert hmac_sha256(key, data) == hmac.digest(key, data, "sha256")


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_same_is_equality(a: bytes, b: bytes) -> None:
    assert same(a, b) is (a == b)
    assert same(a, a)


def test_the_command_line_loads_no_second_openssl() -> None:
    """`import s3vault.cli` (what every command imports before it derives a key) must not
    import hashlib: its libcrypto is ~3.7 MiB of every command's peak, the margin under
    restic's in an unchanged backup (docs/performance.md)."""
    code = (
        "import sys, s3vault.cli, s3vault.ops, s3vault.repository, s3vault.archiver\n"
        "print(sorted(m for m in ('_hashlib', 'hashlib', 'hmac', 'secrets') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
