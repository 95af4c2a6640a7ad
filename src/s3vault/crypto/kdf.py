"""Password → key-encryption key (KEK) with Argon2id; parameters live in each key file."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from s3vault.errors import KeyError_

ARGON2ID = "argon2id"
SALT_SIZE = 16
KEK_SIZE = 32

# OWASP Password Storage Cheat Sheet minimum for Argon2id; key files below it are refused.
FLOOR_MEMORY_KIB = 19 * 1024
FLOOR_ITERATIONS = 2
CEILING_MEMORY_KIB = 4 * 1024 * 1024
CEILING_ITERATIONS = 64
CEILING_LANES = 64

# One derivation at a time in a process: two threads in OpenSSL's Argon2id with lanes > 1 at
# once hang for ever (cryptography 50 on OpenSSL 4.0.3; lanes=1 does not: a library caller
# opening repositories from two threads, an attack pass of 2026-12-07). Each one already uses
# the cores through its lanes and holds its memory cost, so running them one after another
# costs a caller little. A child forked while another thread held it starts with a free one.
_DERIVING = threading.Lock()


def _free_after_fork() -> None:
    global _DERIVING  # noqa: PLW0603 - a new lock in the child, not a released one
    _DERIVING = threading.Lock()


os.register_at_fork(after_in_child=_free_after_fork)


@dataclass(frozen=True, slots=True, kw_only=True)
class KdfParams:
    """Argon2id parameters as stored in a key file."""

    alg: str = ARGON2ID
    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def __repr__(self) -> str:
        return f"KdfParams({self.alg}, m={self.memory_kib}KiB, t={self.iterations}, p={self.lanes})"


# "default": 32 MiB, t=8, p=4: restic's scrypt memory (N=2^15, r=8: 32 MiB), so opening a
# repository costs a host no more memory than restic's does, at the CPU time of RFC 9106
# §4's second recommended setting (64 MiB, t=3, p=4: 0.15 s of one core here, both); the RFC's
# procedure for less memory (take the memory you can spend, then the passes the time allows).
# "strong": RELIABILITY.md §4.2's 256 MiB, t=3, p=4 for keys guarding high-value repositories.
# "small" is an earlier name of the default. docs/keys.md: what each costs an attacker.
COSTS: dict[str, tuple[int, int, int]] = {
    "default": (32 * 1024, 8, 4),
    "strong": (256 * 1024, 3, 4),
    "small": (32 * 1024, 8, 4),
    # The OWASP floor itself: for tests, demos and hosts with very little memory.
    "minimum": (FLOOR_MEMORY_KIB, FLOOR_ITERATIONS, 1),
}


def new_params(cost: str = "default") -> KdfParams:
    """Fresh parameters (with a new random salt) for a named cost preset (COSTS)."""
    memory, iterations, lanes = COSTS[cost]
    return KdfParams(
        memory_kib=memory, iterations=iterations, lanes=lanes, salt=os.urandom(SALT_SIZE)
    )


def derive_kek(password: bytes, params: KdfParams) -> bytes:
    """Derive the key-encryption key for a password.

    Raises:
        KeyError_: unknown algorithm, or parameters below the documented floor.
    """
    if params.alg != ARGON2ID:
        msg = f"unsupported key derivation function {params.alg!r}"
        raise KeyError_(msg)
    if params.memory_kib < FLOOR_MEMORY_KIB or params.iterations < FLOOR_ITERATIONS:
        msg = (
            f"key file KDF parameters are below the safe floor "
            f"(m={params.memory_kib} KiB, t={params.iterations}); refusing to use it"
        )
        raise KeyError_(msg)
    # Ceilings: a forged key file must not make us allocate or spin without bound.
    if (
        params.memory_kib > CEILING_MEMORY_KIB
        or params.iterations > CEILING_ITERATIONS
        or not 1 <= params.lanes <= CEILING_LANES
        or len(params.salt) < SALT_SIZE
    ):
        msg = f"key file KDF parameters are out of range ({params!r}); refusing to use it"
        raise KeyError_(msg)
    try:
        kdf = Argon2id(
            salt=params.salt,
            length=KEK_SIZE,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_kib,
        )
        with _DERIVING:
            return kdf.derive(password)
    except ValueError as exc:
        msg = f"key file KDF parameters are invalid: {exc}"
        raise KeyError_(msg) from None
