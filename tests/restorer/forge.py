"""Writing crafted snapshots with the repository key: the trees a hostile or damaged repository
can hold, made with the library's own writers (nothing below the tree codec is bypassed, so the
blobs authenticate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from s3vault.crypto.hashing import ContentHasher
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.repository.writer import BlobWriter

MTIME = 1_700_000_000_000_000_000


class Forge:
    """Blobs, trees and a snapshot for one repository; ``finish()`` flushes and saves."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.writer: BlobWriter = repo.blob_writer()

    def file(self, name: bytes, data: bytes, **fields: Any) -> Node:
        """A regular file node whose content is stored (fields override the node's)."""
        bid, _ = self.writer.save(BlobType.DATA, data)
        hasher = ContentHasher(self.repo.sealer.current.id_key)
        hasher.update(data)
        node: dict[str, Any] = {
            "name": name,
            "type": NodeType.FILE,
            "mode": 0o644,
            "size": len(data),
            "mtime_ns": MTIME,
            "content": (bid,),
            "content_hash": hasher.digest(),
        }
        node.update(fields)
        return Node(**node)

    def tree(self, nodes: list[Node]) -> ObjectId:
        tid, _ = self.writer.save(BlobType.TREE, Tree(nodes=tuple(nodes)).encode())
        return tid

    def raw_tree(self, nodes: list[Node], extra: list[dict[str, Any]]) -> ObjectId:
        """A tree blob with JSON nodes no s3vault writes (``extra``) beside real ones."""
        obj = json.loads(Tree(nodes=tuple(nodes)).encode())
        obj["nodes"].extend(extra)
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        tid, _ = self.writer.save(BlobType.TREE, data)
        return tid

    def dir(self, name: bytes, subtree: ObjectId | None, **fields: Any) -> Node:
        return Node(
            name=name, type=NodeType.DIR, mode=0o755, mtime_ns=MTIME, subtree=subtree, **fields
        )

    def finish(self, root: ObjectId) -> None:
        self.writer.flush()
        save_snapshot(
            self.repo,
            SnapshotFile(
                time=datetime(2026, 1, 1, tzinfo=UTC),
                tree=root,
                paths=("/forged",),
                hostname="forge",
            ),
        )
