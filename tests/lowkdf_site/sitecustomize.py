"""Cheap Argon2id for the test suite, as restic's tests lower scrypt's cost
(``TestUseLowSecurityKDFParameters``): every key the suite makes or opens derives in
microseconds instead of the 19 MiB, t=2 floor's 30 ms of CPU (about a fifth of the suite's CPU:
thousands of commands each derive a key).

tests/conftest.py puts this directory first on ``PYTHONPATH``, so Python imports this module at
the start of every process the suite starts (the CLI fork server, the campaign runner, console
scripts, the docs pages' shells) and the suite's own processes call ``use_low_kdf``. What is
lowered is only the cost presets and the floor (s3vault/crypto/kdf.py's module constants): the
real Argon2id still runs and every key file still records the parameters it was made with.
``S3VAULT_TEST_REAL_KDF=1`` in a command's environment gives new keys the real presets (the
tests of the costs themselves; tests/cliserver.py honours it per command) while the floor stays
low, so the suite's cheap key files still open; the ``real_kdf`` marker (tests/conftest.py)
puts presets and floor back for an in-process test. With ``S3VAULT_TEST_FRESH_PROCESS=1``
conftest leaves this directory off ``PYTHONPATH``: everything runs on the real costs."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from types import ModuleType

LOW = (8, 1, 1)  # Argon2's own minimum: 8 KiB of memory (8 × lanes), one pass, one lane
# The real presets and floor are kept on the kdf module itself: this file may be imported twice
# in one process (as ``sitecustomize`` at start-up, and as ``tests.lowkdf_site.sitecustomize``)
_KEPT = "_suite_real_costs"


def _kdf() -> ModuleType:
    from s3vault.crypto import kdf

    if not hasattr(kdf, _KEPT):
        setattr(kdf, _KEPT, (dict(kdf.COSTS), (kdf.FLOOR_MEMORY_KIB, kdf.FLOOR_ITERATIONS)))
    return kdf


def use_low_kdf() -> None:
    """Lower every cost preset and the floor to Argon2's minimum (idempotent)."""
    kdf = _kdf()
    for name in kdf.COSTS:
        kdf.COSTS[name] = LOW
    kdf.FLOOR_MEMORY_KIB, kdf.FLOOR_ITERATIONS = LOW[0], LOW[1]


def use_real_presets() -> None:
    """New keys get the real cost presets again; the floor stays where it is."""
    kdf = _kdf()
    kdf.COSTS.update(getattr(kdf, _KEPT)[0])


def use_real_kdf() -> None:
    """Put the real presets and floor back."""
    kdf = _kdf()
    use_real_presets()
    kdf.FLOOR_MEMORY_KIB, kdf.FLOOR_ITERATIONS = getattr(kdf, _KEPT)[1]


def real_presets_asked(env: Mapping[str, str]) -> bool:
    """Whether a command with environment ``env`` asks for the real presets."""
    return env.get("S3VAULT_TEST_REAL_KDF") == "1"


if importlib.util.find_spec("s3vault") is not None:
    use_low_kdf()
    if real_presets_asked(os.environ):
        use_real_presets()
