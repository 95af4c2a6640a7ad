"""Storage backends: one byte-store interface, several implementations, composable wrappers."""

from s3vault.backend.base import Backend, ObjectInfo

__all__ = ["Backend", "ObjectInfo"]
