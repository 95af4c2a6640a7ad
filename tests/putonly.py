"""What the put-only tests share: opening a local repository with a put-only key as a host
does (its own cache directory, or none), the secret its key file wraps (what a compromised
host holds), and a full key's restore of one host's latest snapshot through the CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from s3vault.backend.local import LocalBackend
from s3vault.crypto import aead, kdf
from s3vault.repository.putrepo import PutOnlyRepository, open_put_only
from s3vault.repository.repository import Repository
from tests.conftest import CliRun, RunCli


def open_local_put_only(
    url: str | Path, password: bytes, cache: Path | None = None
) -> PutOnlyRepository:
    """The local repository at ``url`` opened with the put-only key ``password`` opens
    (``cache``: the host's cache directory; none by default)."""
    backend = LocalBackend(Path(url))
    put = open_put_only(backend, Repository.read_marker(backend), password)
    return put if cache is None else replace(put, cache_dir=cache)


def wrapped_secret(put: PutOnlyRepository, password: bytes) -> bytes:
    """The secret the host's put-only key file wraps, unwrapped with ``password``."""
    mine = put.keyfile
    assert mine.wrap is not None and mine.kdf is not None
    spec = mine.kdf
    params = kdf.KdfParams(
        memory_kib=spec.memory_kib, iterations=spec.iterations, lanes=spec.lanes, salt=spec.salt
    )
    kek = kdf.derive_kek(password, params)
    return aead.open_(kek, mine.wrap.nonce, mine.wrap.ct, mine.secret_aad())


def restore_latest(
    run_cli: RunCli, url: str, host: str, target: Path, *, cache: bool = False
) -> CliRun:
    """``s3vault restore latest --host HOST --target TARGET`` (``--no-cache`` unless
    ``cache``): what a full key's operator runs to get one host's files back."""
    no_cache = () if cache else ("--no-cache",)
    return run_cli(
        "-r", url, *no_cache, "restore", "latest", "--host", host, "--target", str(target)
    )
