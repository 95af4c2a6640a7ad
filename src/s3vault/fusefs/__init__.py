"""The snapshots of a repository as a read-only file system (``s3vault mount``).

``view`` is the file-system layer: paths (``snapshots/<time>/…``, ``hosts/<host>/…``,
``tags/<tag>/…``, ``ids/<id>/…``, ``latest`` links) resolved to entries from the snapshot trees,
lazily and iteratively, through bounded caches. ``content`` reads a file's bytes at any offset
through its blobs (a small LRU of decrypted blobs, a little read-ahead), never the whole file.
``adapter`` serves a view through FUSE; it is the only module that imports the binding
(mfusepy, the ``mount`` extra), so everything else works without it.
"""

from s3vault.fusefs.content import BlobCache, FileContent
from s3vault.fusefs.view import Entry, SnapshotView

__all__ = ["BlobCache", "Entry", "FileContent", "SnapshotView"]
