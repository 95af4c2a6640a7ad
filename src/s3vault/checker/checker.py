"""Checker: structure → read-back → attribution. Every error names the damaged object, the
snapshots that need it and the file paths whose content is lost.

    1. key files, index files (fresh, not the cache), pack listing, snapshot files
    2. optionally read packs back (all, or a subset), in parallel
    3. walk every snapshot's trees once per distinct tree, collecting which paths depend on a
       missing or damaged pack, tree or blob
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice

from s3vault.checker.findings import LISTED_PATHS, CheckReport, Finding, Severity
from s3vault.checker.parallelread import read_in_workers
from s3vault.checker.readback import HEADER_DISAGREES, PackReading, damaged, read_pack
from s3vault.checker.selection import PackSelection
from s3vault.checker.structure import Structure, check_structure
from s3vault.checker.usage import snapshots_using
from s3vault.clock import Clock, SystemClock
from s3vault.errors import ARCHIVED, STORE_REFUSALS, NoSuchBucketError, S3VaultError
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.treegraph import expanded, overexpanded
from s3vault.repository.treewalk import children_first
from s3vault.workerpool import STALL_AFTER, Watchdog, default_jobs, jobs_for

READ_BATCH = 4096  # packs whose entries one pass over the index gathers for the read-back
BLOB_COST = 16 * 1024  # a blob's fixed cost in a read-back, in bytes hashed (about 15 µs)
SERIAL_REMOTE_UP_TO_CORES = 2  # through a remote store, this many cores or fewer: one process
TREE_REFUSED = "tree blob "  # how a tree the store refused during the walk is named

# (relative path, damaged object, reason)
_Problem = tuple[str, str, str]
# damaged object → (reason, the snapshots that lose something with it, the paths they lose)
_Affected = dict[str, tuple[str, set[str], list[str]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    """What to check."""

    read_data: bool = False
    subset: PackSelection | None = None  # with read_data: which packs (None: all)
    workers: int = 4
    seed: int | None = None
    jobs: int = 1  # worker processes for the read-back (checker/parallelread.py); 0: the
    # default, ``read_back_jobs``'s
    worker_timeout: float = STALL_AFTER  # seconds a worker may hold a pack and say nothing


class Checker:
    """Runs the checks on an open repository."""

    def __init__(
        self, repo: Repository, *, progress: Progress | None = None, clock: Clock | None = None
    ) -> None:
        self._repo = repo.reading_the_store()  # the store's copies, never the local cache's
        self._progress = progress or NullProgress()
        self._clock = clock or SystemClock()

    def run(self, options: CheckOptions) -> CheckReport:
        """Check the repository.

        Raises:
            BackendError: storage could not be listed (the check cannot vouch for anything).
        """
        t0 = self._clock.monotonic()
        report = CheckReport()
        st = check_structure(self._repo, report.findings)
        self._repo = self._repo.with_index(st.index)  # trees load through the fresh index
        report.snapshots, report.index_files, report.packs = (
            len(st.snapshots),
            st.index_files,
            len(st.packs),
        )
        report.put_packs = st.put_packs
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]] = {}
        early = _EarlyWalk(self, st)
        if options.read_data:
            try:
                self._read_back(options, st, report, bad_blobs, early)
            except BaseException:
                early.stop()  # no walk goes on behind a failed verify
                raise
        affected = early.outcome(st, bad_blobs)
        if affected is None:
            affected = self._affected(st, bad_blobs)
        report.findings.extend(_forged_graphs(affected))
        self._attribute(st, bad_blobs, affected, report.findings)
        report.seconds = self._clock.monotonic() - t0
        report.refused.extend(st.refused.items())
        _refusals(report)
        return report

    def _read_back(
        self,
        options: CheckOptions,
        st: Structure,
        report: CheckReport,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
        early: _EarlyWalk,
    ) -> None:
        """Read the chosen packs back; in worker processes, with the attribution walk beside
        it (``early``)."""
        candidates = [(p.id, p.size) for n, p in st.packs.items() if n in st.listed]
        report.stored = dict(candidates)
        selection = options.subset or PackSelection()
        rng = random.Random(options.seed)  # noqa: S311 - sampling packs, not cryptography
        chosen = set(selection.choose(candidates, rng))
        names = [n for n, p in st.packs.items() if p.id in chosen]
        total = sum(st.packs[n].size for n in names)
        self._progress.started("verify", total_files=len(names), total_bytes=total)

        items = self._with_entries(st, sorted(names))
        jobs = read_back_jobs(options.jobs, self._repo.remote, total)
        if jobs > 1 and len(names) > 1:
            in_flight: dict[str, IndexedPack] = {}  # sent to a worker, its reading not back

            def send() -> Iterator[tuple[str, IndexedPack]]:
                for name, pack in items:
                    in_flight[name] = pack
                    yield name, pack

            def take(reading: PackReading) -> None:
                early.start()  # at the first reading: the workers are forked by then
                pack = in_flight.pop(reading.name)
                if damaged(reading):  # read once more, here: damaged on its way?
                    reading = read_pack(self._repo, reading.name, pack, again=False)
                self._take(reading, st, report, bad_blobs)

            read_in_workers(
                self._repo,
                send(),
                take,
                jobs=min(jobs, len(names)),
                readers=max(1, options.workers // jobs),
                watchdog=Watchdog(stall_after=options.worker_timeout, clock=self._clock),
            )
        else:

            def one(item: tuple[str, IndexedPack]) -> PackReading:
                return read_pack(self._repo, *item)

            with ThreadPoolExecutor(
                max(1, options.workers), thread_name_prefix="s3v-verify"
            ) as pool:
                for reading in pool.map(one, items):
                    self._take(reading, st, report, bad_blobs)
        self._progress.finished("verify")

    def _take(
        self,
        reading: PackReading,
        st: Structure,
        report: CheckReport,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
    ) -> None:
        """Count one pack's reading and keep what it found."""
        self._progress.advanced(files=1, bytes_=reading.size, item=reading.name)
        if reading.refused is not None:  # not checked: said at the end, not damage
            report.refused.append((reading.name, reading.refused))
            return
        report.packs_read += 1
        report.bytes_read += reading.size
        report.blobs_read += reading.blobs
        if reading.unreadable:
            st.bad_packs[reading.name] = reading.problem
            return
        # Read blob by blob: only blobs that failed are lost, whatever the pack's state.
        note = "; ".join(x for x in (st.bad_packs.pop(reading.name, ""), reading.problem) if x)
        if note:
            st.pack_notes[reading.name] = note
        for key, reason in reading.bad_blobs.items():
            bad_blobs[key] = (reading.name, reason)
        if not note and not reading.bad_blobs:  # every byte read back and checked
            report.proven.append((st.packs[reading.name].id, reading.size))

    @staticmethod
    def _with_entries(st: Structure, names: list[str]) -> Iterator[tuple[str, IndexedPack]]:
        """The packs to read with their entries, which the index holds: gathered a batch of
        packs at a time (one pass over the index each), so no per-blob record of every pack
        lives beside the index."""
        for start in range(0, len(names), READ_BATCH):
            batch = names[start : start + READ_BATCH]
            found = st.index.pack_entries(st.packs[n].id for n in batch)
            packs = []
            for name in batch:
                p = st.packs[name]
                entries = tuple(found.get(p.id, ()))
                packs.append(
                    (name, IndexedPack(id=p.id, size=p.size, epoch=p.epoch, entries=entries))
                )
            # The costliest first: the last packs handed out decide how long one worker works
            # alone at the end (4 in flight each: a pack of text takes 5-10x a pack of random
            # bytes). A blob costs its bytes (decompress, hash) and a fixed part in Python.
            packs.sort(key=lambda item: -_read_cost(item[1]))
            yield from packs

    def _affected(
        self,
        st: Structure,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
        stop: threading.Event | None = None,
    ) -> _Affected:
        """Walk every snapshot's trees: what each unreadable object takes with it (``stop``
        set: the walk ends at its next tree, raising ``_Stopped``)."""
        for name in [n for n in st.refused if n.startswith(TREE_REFUSED)]:
            del st.refused[name]  # this walk's own (an early walk whose outcome failed: not its)
        walker = _DamageWalker(self._repo, st, bad_blobs, stop)
        affected: _Affected = {}
        for sid, snap in st.snapshots:
            forged = overexpanded(self._repo, snap.tree, walker.size(snap.tree))
            if forged is not None:  # the snapshot file is the object to remove; its paths
                why = (
                    f"its trees name the same directories over and over ({forged}): a forged "
                    "or damaged tree graph, which restore, ls, find and diff refuse to walk"
                )
                affected[object_name(ObjectKind.SNAPSHOTS, sid)] = (why, {sid.short}, [])
                continue  # would not end: what it loses is not listed
            problems = walker.tree_problems(snap.tree)
            for path, obj, reason in islice(problems, LISTED_PATHS):
                entry = affected.setdefault(obj, (reason, set(), []))
                entry[1].add(sid.short)
                entry[2].append("/" + path)
        return affected

    def _attribute(
        self,
        st: Structure,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
        affected: _Affected,
        findings: list[Finding],
    ) -> None:
        reasons = {**st.pack_notes, **st.bad_packs}
        for (btype, bid), (pack, reason) in bad_blobs.items():
            reasons.setdefault(pack, f"{btype.value} blob {bid.hex()[:8]}: {reason}")
        # A damaged pack from which nothing a snapshot needs is lost may still be needed.
        readable = {n for n in reasons if n not in affected and n not in st.bad_packs}
        damaged = frozenset(st.packs[n].id for n in reasons if n in st.packs)
        users = self._users(st, readable, damaged)
        for obj in sorted(set(reasons) | set(affected)):
            reason, snaps, paths = affected.get(obj, ("", set(), []))
            reason = reasons.get(obj, reason)
            kind = "pack-damaged" if obj.startswith(("data/", "tree/")) else "blob-missing"
            unique = sorted(set(paths))
            repair_packs = f"`s3vault repair packs {obj.rsplit('/', 1)[-1][:8]}`"
            salvage = ""
            if kind == "pack-damaged" and st.bad_packs.get(obj) != "pack is missing":
                salvage = f"{repair_packs} salvages the rest of it; "
            if unique:
                lost = (
                    f"; {len(unique)} path(s) in {len(snaps)} snapshot(s) lose content (put "
                    f"the object back from a copy if there is one; {salvage}`s3vault backup` "
                    "stores again what the source still has; `s3vault repair snapshots` "
                    "rewrites the snapshots without the rest)"
                )
            elif obj in users:
                snaps = users[obj]
                lost = (
                    f"; nothing is lost: every blob snapshots need from it reads back intact, "
                    f"and {len(snaps)} snapshot(s) use it (keep it: `s3vault repair index` "
                    f"keeps its blobs indexed; or {repair_packs} moves them into a sound pack)"
                )
            elif st.bad_packs.get(obj) == "pack is missing":
                lost = (
                    "; nothing snapshots need is lost with it (another pack holds what they "
                    "use): `s3vault repair index` stops the index naming it"
                )
            elif obj in st.marked:  # garbage on its way out: its damage harms nothing
                lost = (
                    "; no snapshot needs it, and prune has marked it for deletion: the next "
                    "prune after the grace period deletes it"
                )
            else:
                lost = "; no snapshot needs it (`s3vault prune` removes it)"
            if HEADER_DISAGREES in reason:
                lost = _misdescribed(len(unique), len(snaps))
            if ARCHIVED in reason:  # intact: repair advice would drop data that is there
                kind = "pack-archived"
                lost = (
                    f"; {len(unique)} path(s) in {len(snaps)} snapshot(s) cannot be read until "
                    "it is restored from its storage class's archive (docs/s3.md): nothing is "
                    "known to be lost, repair nothing; restore it, then check again"
                )
            garbage = obj in st.marked and not unique and obj not in users
            findings.append(
                Finding(
                    severity=Severity.INFO if garbage else Severity.ERROR,
                    kind=kind,
                    object=obj,
                    message=f"{reason}{lost}",
                    snapshots=tuple(sorted(snaps)),
                    paths=tuple(unique),
                )
            )

    def _users(
        self, st: Structure, names: set[str], damaged: frozenset[ObjectId]
    ) -> dict[str, set[str]]:
        """The snapshots that use each of these packs (by object name): that need a blob of
        one of them with no copy in an undamaged pack."""
        if not names:
            return {}
        ids = {st.packs[n].id: n for n in names if n in st.packs}
        found = snapshots_using(self._repo, st.index, st.snapshots, set(ids), damaged)
        return {ids[pid]: snaps for pid, snaps in found.items()}


def read_back_jobs(requested: int, remote: bool, total_bytes: int) -> int:
    """Worker processes for a read-back of ``total_bytes``: ``requested`` when given
    (--jobs); one through a remote store on ``SERIAL_REMOTE_UP_TO_CORES`` cores or fewer; else
    restore's rule (s3vault/workerpool.py ``jobs_for``: one per core from
    ``SERIAL_BELOW_BYTES``, one process below).

    Through S3 on 2 cores the parent downloads every pack and hands the bytes on, and the
    workers were slower than one process and larger (moto, the bench repository, 3 alternating
    runs: 2.42-2.62 s and 192-225 MiB against 2.22-2.32 s and 146-160 MiB); on a local disk
    they are faster (docs/performance.md)."""
    if requested:
        return requested
    if remote and default_jobs() <= SERIAL_REMOTE_UP_TO_CORES:
        return 1
    return jobs_for(0, total_bytes)


class _Stopped(Exception):
    """The early walk was told to stop."""


def _refusals(report: CheckReport) -> None:
    """Packs and trees the store would not give were not checked. Beside damage they are
    said (the damage decides the exit); alone, the run ends with the store's error (exit 1
    or 14), never with "damaged".

    Raises:
        BackendError: the first refusal, the count and the outcome of the rest in its message.
    """
    if not report.refused:
        return
    if not report.ok:
        report.findings.extend(
            Finding(
                severity=Severity.INFO,
                kind="not-checked",
                object=name,
                message=f"not checked: the store did not give it ({exc})",
            )
            for name, exc in report.refused
        )
        return
    name, first = report.refused[0]
    msg = (
        f"{len(report.refused)} object(s) could not be read, so were not checked (the store "
        f"refused them or did not answer; first: {name}: {first}); nothing else was found "
        f"damaged ({report.packs_read} pack(s) read back intact): run verify again when the "
        "store answers"
    )
    raise type(first)(msg)


class _EarlyWalk:
    """The attribution walk beside a read-back in worker processes: the parent, which only
    hands out packs and takes their readings then, walks every snapshot's trees meanwhile
    (0.35 s of a 1.8 s ``verify --read-data`` of the bench corpus was this walk, after the
    read-back). The walk knows only what the structure pass found (a copy of its bad packs);
    its outcome stands when the read-back found nothing more (no unreadable pack, no bad blob),
    as in a sound repository, and is discarded otherwise: the walk then runs again with what
    the read-back found, as without this. Started at the first reading, when the workers have
    been forked (a fork must not meet a running thread: s3vault/workerpool.py). In one
    process it is not started: the threaded read-back keeps the cores busy, and a walk beside
    it measured no faster (docs/performance.md)."""

    def __init__(self, checker: Checker, st: Structure) -> None:
        self._checker = checker
        self._bad_packs = dict(st.bad_packs)
        self._view = replace(st, bad_packs=self._bad_packs)  # the read-back changes st's
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._affected: _Affected | None = None

    def start(self) -> None:
        """Start the walk (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._walk, name="s3v-verify-walk", daemon=True)
            self._thread.start()

    def _walk(self) -> None:
        try:
            self._affected = self._checker._affected(self._view, {}, self._stop)
        except Exception:  # stopped; or it raises again in the walk after the read-back
            self._affected = None

    def stop(self) -> None:
        """End the walk at its next tree and wait for it: its outcome cannot stand."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def outcome(
        self, st: Structure, bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]]
    ) -> _Affected | None:
        """The walk's outcome once it ended, if the read-back left it true; else None (not
        started, failed, or the read-back found more: the walk is stopped then)."""
        if self._thread is None:
            return None
        if bad_blobs or st.bad_packs != self._bad_packs:
            self.stop()
            return None
        self._thread.join()
        return self._affected


def _misdescribed(paths: int, snaps: int) -> str:
    """What to do about a pack whose own header places its blobs otherwise than the index
    does: the index is wrong (a put-only writer's index file can describe a pack falsely,
    design.md §6a), not the pack, so the index is rebuilt from the headers."""
    through = (
        f"{paths} path(s) in {snaps} snapshot(s) cannot be read through the index until then"
        if paths
        else "nothing is lost with it"
    )
    return (
        "; the index describes the pack otherwise than its own header does: `s3vault repair "
        "index` rebuilds the index from the packs' headers (then `s3vault verify --read-data` "
        f"again); {through}"
    )


class _DamageWalker:
    """Which paths below a tree depend on something unreadable; each tree is walked once."""

    def __init__(
        self,
        repo: Repository,
        st: Structure,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
        stop: threading.Event | None = None,
    ) -> None:
        self._repo = repo
        self._st = st
        self._bad_blobs = bad_blobs
        self._stop = stop
        # per tree: (problems in it, its child directories with problems below them); paths
        # are joined only when reported, so memory follows the tree's size, not its depth²
        self._memo: dict[ObjectId, tuple[list[_Problem], list[tuple[str, ObjectId]]]] = {}
        self._sizes: dict[ObjectId, tuple[int, int]] = {}  # treegraph.expanded, per tree

    def size(self, tid: ObjectId) -> tuple[int, int]:
        """What a walk meets below a tree (treegraph.expanded; (0, 0) if unread); walks
        what it has not walked yet."""
        self._visit(tid)
        return self._sizes.get(tid, (0, 0))

    def where(self, btype: BlobType, bid: ObjectId) -> tuple[str, str] | None:
        """(damaged object, reason) if this blob cannot be read back."""
        if not self._st.bad_packs and not self._bad_blobs and self._st.index.has(btype, bid):
            return None  # nothing found unreadable: indexed is readable (no location records)
        locations = self._st.index.locations(btype, bid)
        if not locations:
            return (
                f"{btype.value} blob {bid.hex()}",
                "blob is in no index (`s3vault repair index` finds it if a stored pack holds it)",
            )
        kind = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
        first: tuple[str, str] | None = None
        for loc in locations:  # lost only when every stored copy is
            name = object_name(kind, loc.pack_id)
            bad = self._bad_blobs.get((btype, bytes(bid)))
            if name in self._st.bad_packs:
                problem = name, self._st.bad_packs[name]
            elif bad is not None and bad[0] == name:
                problem = bad
            else:
                return None
            first = first or problem
        return first

    def tree_problems(self, tid: ObjectId) -> Iterator[_Problem]:
        """(relative path, object, reason) for everything lost below this tree."""
        self._visit(tid)
        stack = [(tid, "")]
        while stack:
            here, prefix = stack.pop()
            local, below = self._memo[here]
            for path, obj, reason in local:
                yield _join(prefix, path), obj, reason
            stack.extend((sub, _join(prefix, name)) for name, sub in reversed(below))

    def _nodes(self, tid: ObjectId) -> tuple[Node, ...] | str | None:
        """A tree's nodes, why it is lost (damaged, or its pack gone), or None: the store
        refused it or did not answer (errors.STORE_REFUSALS), no evidence of damage: it is
        noted in the structure's ``refused`` and nothing below it is walked. Each tree is read
        once: around the tree cache, which would keep them."""
        try:
            return Tree.decode(self._repo.load_blob(BlobType.TREE, tid)).nodes
        except NoSuchBucketError:
            raise  # no repository there any more (readback._read)
        except STORE_REFUSALS as exc:
            self._st.refused[f"{TREE_REFUSED}{tid.hex()}"] = exc
            return None
        except S3VaultError as exc:
            return str(exc)

    def _visit(self, root: ObjectId) -> None:
        """Fill the memo for every tree below ``root``, children before parents, with an
        explicit stack (a tree 10,000 levels deep is no deeper for the checker)."""
        memo = self._memo
        for tid, nodes in children_first(root, self._readable, memo):
            local: list[_Problem] = []
            below: list[tuple[str, ObjectId]] = []
            for node in nodes:
                if node.type is NodeType.FILE:
                    for bid in node.content:
                        bad = self.where(BlobType.DATA, bid)
                        if bad is not None:
                            local.append((node.display_name, bad[0], bad[1]))
                            break
                elif node.type is NodeType.DIR and node.subtree is not None:
                    sub_local, sub_below = memo[node.subtree]
                    if sub_local or sub_below:
                        below.append((node.display_name, node.subtree))
            memo[tid] = (local, below)
            self._sizes[tid] = expanded(nodes, self._sizes)

    def _readable(self, tid: ObjectId) -> tuple[Node, ...] | None:
        """A tree's nodes; None for one that is lost or not checked, its memo entry made."""
        if self._stop is not None and self._stop.is_set():
            raise _Stopped
        bad = self.where(BlobType.TREE, tid)
        if bad is not None:
            self._memo[tid] = ([("", bad[0], bad[1])], [])
            return None
        read = self._nodes(tid)
        if read is None or isinstance(read, str):  # not checked, or lost
            self._memo[tid] = ([("", f"tree blob {tid.hex()}", read)] if read else [], [])
            return None
        return read


def _forged_graphs(affected: _Affected) -> list[Finding]:
    """Take the snapshots whose tree graphs a walk refuses (treegraph.py) out of
    ``affected``: one finding each, with its fix."""
    prefix = ObjectKind.SNAPSHOTS.value + "/"
    findings = []
    for obj in sorted(k for k in affected if k.startswith(prefix)):
        reason, snaps, _ = affected.pop(obj)
        (short,) = snaps
        findings.append(
            Finding(
                severity=Severity.ERROR,
                kind="snapshot-forged",
                object=obj,
                message=f"snapshot {short}: {reason}; `s3vault forget {short}` removes it",
                snapshots=(short,),
            )
        )
    return findings


def _join(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if prefix and path else prefix or path


def _read_cost(pack: IndexedPack) -> int:
    """What reading a pack back costs, in bytes: its blobs' plaintext, plus a fixed part each."""
    return sum(e.raw_length for e in pack.entries) + BLOB_COST * len(pack.entries)
