"""Repository URLs → backends: a path or ``file:PATH``, ``memory:`` (tests), ``s3://bucket/prefix``."""

from __future__ import annotations

from pathlib import Path

from s3vault.backend.base import Backend
from s3vault.errors import UsageError


def open_backend(url: str) -> Backend:
    """The raw backend for a repository URL.

    Raises:
        UsageError: an empty or unsupported URL.
    """
    if not url:
        msg = "no repository given: use -r/--repo or set S3VAULT_REPOSITORY"
        raise UsageError(msg)
    if url.startswith("s3:"):
        msg = f"S3 repositories are not available in this build yet: {url}"
        raise UsageError(msg)
    if url == "memory:":
        from s3vault.backend.memory import MemoryBackend

        return MemoryBackend()
    from s3vault.backend.local import LocalBackend

    path = url.removeprefix("file:")
    return LocalBackend(Path(path).expanduser().absolute())
