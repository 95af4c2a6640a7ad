"""Stage 6, commit: flush packs → write index files → write the snapshot (design.md §11).

The snapshot is written only after the BlobWriter has stored every pack and index file it
produced; if anything before fails, no snapshot exists and the run left only garbage that no
snapshot references.
"""

from __future__ import annotations

from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.repository.writer import BlobWriter


def commit(repo: Repository, writer: BlobWriter, snapshot: SnapshotFile) -> ObjectId:
    """Make the backup durable and visible; returns the snapshot id.

    Raises:
        BackendError: a write failed; no snapshot was written.
    """
    writer.flush()
    return save_snapshot(repo, snapshot)
