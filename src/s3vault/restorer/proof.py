"""Proof that a restore is exact: every file's bytes against the whole-file hash recorded at
backup time, and its metadata (size, mode, mtime, link target) against the snapshot.

``prove_on_disk`` checks files a restore wrote; ``prove_streamed`` reads each file's blobs in
order and hashes them without writing anything (restore-test --no-disk).
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor

from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import S3VaultError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.repository.repository import Repository
from s3vault.restorer.plan import RestorePlan

Problem = tuple[str, str]  # (path, what is wrong)
SLICE = 256


def _file_problem(path: bytes, node: Node, id_key: bytes) -> str:
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"missing after restore ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file after restore"
    if st.st_size != node.size:
        return f"size {st.st_size}, the snapshot says {node.size}"
    hasher = ContentHasher(id_key)
    with open(path, "rb", buffering=0) as f:
        while block := f.read(4 << 20):
            hasher.update(block)
    if node.content_hash is None or hasher.digest() != node.content_hash:
        return "content differs from the backed-up file (hash mismatch)"
    if stat.S_IMODE(st.st_mode) != node.mode:
        return f"mode {stat.S_IMODE(st.st_mode):o}, the snapshot says {node.mode:o}"
    if st.st_mtime_ns != node.mtime_ns:
        return "mtime differs from the snapshot"
    return ""


def prove_on_disk(plan: RestorePlan, id_key: bytes, *, workers: int = 4) -> list[Problem]:
    """Check every file and link a restore wrote against the snapshot."""
    problems: list[Problem] = []
    tasks = [t for t in plan.files if not t.failed]

    def check(task_path: bytes, node: Node) -> Problem | None:
        why = _file_problem(task_path, node, id_key)
        return (os.fsdecode(task_path), why) if why else None

    with ThreadPoolExecutor(workers, thread_name_prefix="s3v-prove") as pool:
        for start in range(0, len(tasks), SLICE):  # bounded: not one future per file up front
            for found in pool.map(lambda t: check(t.path, t.node), tasks[start : start + SLICE]):
                if found:
                    problems.append(found)
    for path, node in plan.others:
        if node.type is not NodeType.SYMLINK:
            continue
        try:
            target = os.readlink(path)
        except OSError:
            problems.append((os.fsdecode(path), "symlink missing after restore"))
            continue
        if target != node.link_target:
            problems.append((os.fsdecode(path), "symlink target differs from the snapshot"))
    return problems


def prove_streamed(repo: Repository, plan: RestorePlan, *, workers: int = 4) -> list[Problem]:
    """Fetch every planned file's blobs in order and check its hash; writes nothing."""
    id_key = repo.sealer.current.id_key

    def check(path: bytes, node: Node) -> Problem | None:
        hasher = ContentHasher(id_key)
        size = 0
        try:
            for bid in node.content:
                data = repo.load_blob(BlobType.DATA, bid)
                hasher.update(data)
                size += len(data)
        except S3VaultError as exc:
            return os.fsdecode(path), f"cannot be restored: {exc}"
        if size != node.size:
            return os.fsdecode(path), f"size {size}, the snapshot says {node.size}"
        if node.content_hash is None or hasher.digest() != node.content_hash:
            return os.fsdecode(path), "content differs from the backed-up file (hash mismatch)"
        return None

    tasks = [t for t in plan.files if not t.failed]
    found: list[Problem] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="s3v-prove") as pool:
        for start in range(0, len(tasks), SLICE):
            batch = tasks[start : start + SLICE]
            found.extend(p for p in pool.map(lambda t: check(t.path, t.node), batch) if p)
    return found
