"""Stage 6, commit: flush packs → write index files → write the snapshot (design.md §11).

The snapshot is written only after the BlobWriter has stored every pack and index file it
produced; if anything before fails, no snapshot exists and the run left only garbage that no
snapshot references.

Against a prune running beside it (design.md §10): the backup read the index without the packs
prune had marked, and prune deletes a pack only once its mark is older than the repository's
minimum grace G. So a backup that writes its snapshot within G/2 of reading the index cannot
reference a deleted pack, and the prune that would delete sees the snapshot and keeps what it
needs. A backup that ran longer (a suspended laptop, a stopped process) first revalidates:
every blob its snapshot references must be in a stored, unmarked pack; a blob found only in a
marked pack is stored again; a blob found nowhere aborts the backup without a snapshot.
"""

from __future__ import annotations

import logging

from s3vault.clock import Clock
from s3vault.crashpoint import crash_point
from s3vault.errors import IntegrityError, S3VaultError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.references import References
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.repository.writer import BlobWriter

log = logging.getLogger(__name__)

MAX_REVALIDATIONS = 3


# Nothing is damaged: the backup stops before its snapshot (no pointer to a verify that finds
# nothing: an attack pass, 2026-12-07)
RUN_AGAIN = (
    "no snapshot was written, and nothing stored is damaged: run `s3vault backup` again "
    "(docs/concurrency.md)"
)


def commit(
    repo: Repository,
    writer: BlobWriter,
    snapshot: SnapshotFile,
    *,
    clock: Clock,
    index_read_at: float,
) -> ObjectId:
    """Make the backup durable and visible; returns the snapshot id.

    ``index_read_at`` is ``clock.monotonic()`` taken before the index was listed.

    Raises:
        BackendError: a write failed; no snapshot was written.
        IntegrityError: data the backup relied on was pruned while it ran; no snapshot.
        S3VaultError: the checks of that took longer than half the grace, again and again.
    """
    writer.flush()
    crash_point("backup-before-snapshot")
    window = repo.config.min_grace / 2
    for _ in range(MAX_REVALIDATIONS):
        if clock.monotonic() - index_read_at <= window:
            break
        index_read_at = clock.monotonic()
        log.warning(
            "this run took longer than half the prune grace period (%gs): checking that "
            "everything it references is still stored",
            window,
        )
        revalidate(repo, snapshot.tree)
    else:
        # Nothing is damaged (it was exit 13 and sent the operator to verify, which found
        # nothing: an attack pass, 2026-12-07): the grace is too short for this backup
        msg = (
            f"the backup's check that everything it references is still stored took longer "
            f"than half the repository's prune grace period ({window:g}s), {MAX_REVALIDATIONS} "
            "times: no snapshot was written, nothing is damaged. The grace (init --min-grace "
            f"{repo.config.min_grace:g}s) is too short for a backup of this size: give the "
            "repository a longer one (docs/concurrency.md)"
        )
        raise S3VaultError(msg)
    sid = save_snapshot(repo, snapshot)
    if clock.monotonic() - index_read_at > window:
        _confirm_after_a_slow_save(repo, sid, snapshot.tree)
    return sid


def _confirm_after_a_slow_save(repo: Repository, sid: ObjectId, tree: ObjectId) -> None:
    """The snapshot's write took the backup past half the grace (its retries against a store
    that kept failing, or a suspend while it waited to retry): a prune may have deleted what
    it references meanwhile, so that is checked now, as before the write. What only a marked
    pack holds is stored again; when something is gone, the snapshot is removed again.

    Raises:
        IntegrityError: data the snapshot references was pruned; the snapshot is removed.
    """
    log.warning(
        "the snapshot's write took this run past half the prune grace period: checking "
        "that everything it references is still stored"
    )
    try:
        revalidate(repo, tree)
    except IntegrityError:
        repo.delete_object(ObjectKind.SNAPSHOTS, sid)
        raise


def revalidate(repo: Repository, tree: ObjectId) -> int:
    """Make sure every blob under ``tree`` is in a stored, unmarked pack; store again the ones
    only a marked pack holds. Returns how many were stored again.

    Raises:
        IntegrityError: a referenced blob is in no stored pack.
    """
    unmarked = repo.read_index(with_marked=False)
    stored = {info.name for info in repo.list_packs().values()}
    repo = repo.with_index(repo.read_index(with_marked=True))
    refs = References()
    refs.add_snapshots_trees(repo, [tree])
    if refs.missing:
        btype, bid = refs.missing[0]
        msg = (
            f"{btype.value} blob {bid.short} that this backup references was pruned while it "
            f"ran (it was suspended or stopped for longer than the prune grace period); {RUN_AGAIN}"
        )
        raise IntegrityError(msg)
    rewriter = repo.copy_writer(unmarked)
    again = 0
    for btype, ids in refs.by_type():
        kind = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
        for bid in ids:
            loc = unmarked.lookup(btype, bid)
            if loc is not None and object_name(kind, loc.pack_id) in stored:
                continue
            try:
                data = repo.load_blob(btype, bid)
            except S3VaultError as exc:
                msg = (
                    f"{btype.value} blob {bid.short} that this backup references was pruned "
                    f"while it ran ({exc}); {RUN_AGAIN}"
                )
                raise IntegrityError(msg) from None
            rewriter.save(btype, data, bid)
            again += 1
    rewriter.flush()
    if again:
        log.warning("stored %d blobs again that a concurrent prune had marked", again)
    return again
