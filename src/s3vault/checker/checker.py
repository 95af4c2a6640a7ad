"""Checker: structure → read-back → attribution. Every error names the damaged object, the
snapshots that need it and the file paths whose content is lost.

    1. key files, index files (fresh, not the cache), pack listing, snapshot files
    2. optionally read packs back (all, or a subset), in parallel
    3. walk every snapshot's trees once per distinct tree, collecting which paths depend on a
       missing or damaged pack, tree or blob
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from s3vault.checker.findings import CheckReport, Finding, Severity
from s3vault.checker.readback import PackReading, read_pack
from s3vault.checker.selection import PackSelection
from s3vault.checker.structure import Structure, check_structure
from s3vault.checker.usage import snapshots_using
from s3vault.clock import Clock, SystemClock
from s3vault.errors import S3VaultError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import NodeType
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository

# (relative path, damaged object, reason)
_Problem = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    """What to check."""

    read_data: bool = False
    subset: PackSelection | None = None  # with read_data: which packs (None: all)
    workers: int = 4
    seed: int | None = None


class Checker:
    """Runs the checks on an open repository."""

    def __init__(
        self, repo: Repository, *, progress: Progress | None = None, clock: Clock | None = None
    ) -> None:
        self._repo = repo
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
        self._repo.index = st.index  # trees are loaded through the freshly read index
        report.snapshots, report.index_files, report.packs = (
            len(st.snapshots),
            st.index_files,
            len(st.packs),
        )
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]] = {}
        if options.read_data:
            self._read_back(options, st, report, bad_blobs)
        self._attribute(st, bad_blobs, report.findings)
        report.seconds = self._clock.monotonic() - t0
        return report

    def _read_back(
        self,
        options: CheckOptions,
        st: Structure,
        report: CheckReport,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
    ) -> None:
        candidates = [(p.id, p.size) for n, p in st.packs.items() if n in st.listed]
        selection = options.subset or PackSelection()
        rng = random.Random(options.seed)  # noqa: S311 - sampling packs, not cryptography
        chosen = set(selection.choose(candidates, rng))
        names = [n for n, p in st.packs.items() if p.id in chosen]
        total = sum(st.packs[n].size for n in names)
        self._progress.started("verify", total_files=len(names), total_bytes=total)

        def one(name: str) -> PackReading:
            reading = read_pack(self._repo, name, st.packs[name])
            self._progress.advanced(files=1, bytes_=reading.size, item=name)
            return reading

        with ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="s3v-verify") as pool:
            for reading in pool.map(one, sorted(names)):
                report.packs_read += 1
                report.bytes_read += reading.size
                report.blobs_read += reading.blobs
                if reading.unreadable:
                    st.bad_packs[reading.name] = reading.problem
                    continue
                # Read blob by blob: only blobs that failed are lost, whatever the pack's state.
                note = "; ".join(
                    x for x in (st.bad_packs.pop(reading.name, ""), reading.problem) if x
                )
                if note:
                    st.pack_notes[reading.name] = note
                for key, reason in reading.bad_blobs.items():
                    bad_blobs[key] = (reading.name, reason)
        self._progress.finished("verify")

    def _attribute(
        self,
        st: Structure,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
        findings: list[Finding],
    ) -> None:
        walker = _DamageWalker(self._repo, st, bad_blobs)
        affected: dict[str, tuple[str, set[str], list[str]]] = {}
        for sid, snap in st.snapshots:
            for path, obj, reason in walker.tree_problems(snap.tree):
                entry = affected.setdefault(obj, (reason, set(), []))
                entry[1].add(sid.short)
                entry[2].append("/" + path)
        reasons = {**st.pack_notes, **st.bad_packs}
        for (btype, bid), (pack, reason) in bad_blobs.items():
            reasons.setdefault(pack, f"{btype.value} blob {bid.hex()[:8]}: {reason}")
        # A damaged pack from which nothing a snapshot needs is lost may still be needed.
        readable = {n for n in reasons if n not in affected and n not in st.bad_packs}
        users = self._users(st, readable)
        for obj in sorted(set(reasons) | set(affected)):
            reason, snaps, paths = affected.get(obj, ("", set(), []))
            reason = reasons.get(obj, reason)
            kind = "pack-damaged" if obj.startswith(("data/", "tree/")) else "blob-missing"
            unique = sorted(set(paths))
            if unique:
                lost = f"; {len(unique)} path(s) in {len(snaps)} snapshot(s) lose content"
            elif obj in users:
                snaps = users[obj]
                lost = (
                    f"; nothing is lost: every blob snapshots need from it reads back intact, "
                    f"and {len(snaps)} snapshot(s) use it (keep it: `s3vault repair index` "
                    "keeps its blobs indexed)"
                )
            else:
                lost = "; no snapshot needs it (prune removes it)"
            findings.append(
                Finding(
                    severity=Severity.ERROR,
                    kind=kind,
                    object=obj,
                    message=f"{reason}{lost}",
                    snapshots=tuple(sorted(snaps)),
                    paths=tuple(unique),
                )
            )

    def _users(self, st: Structure, names: set[str]) -> dict[str, set[str]]:
        """The snapshots that use each of these packs (by object name)."""
        if not names:
            return {}
        ids = {st.packs[n].id: n for n in names if n in st.packs}
        found = snapshots_using(self._repo, st.index, st.snapshots, set(ids))
        return {ids[pid]: snaps for pid, snaps in found.items()}


class _DamageWalker:
    """Which paths below a tree depend on something unreadable; each tree is walked once."""

    def __init__(
        self,
        repo: Repository,
        st: Structure,
        bad_blobs: dict[tuple[BlobType, bytes], tuple[str, str]],
    ) -> None:
        self._repo = repo
        self._st = st
        self._bad_blobs = bad_blobs
        self._memo: dict[ObjectId, list[_Problem]] = {}

    def where(self, btype: BlobType, bid: ObjectId) -> tuple[str, str] | None:
        """(damaged object, reason) if this blob cannot be read back."""
        loc = self._st.index.lookup(btype, bid)
        if loc is None:
            return f"{btype.value} blob {bid.hex()}", "blob is in no index"
        kind = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
        name = object_name(kind, loc.pack_id)
        if name in self._st.bad_packs:
            return name, self._st.bad_packs[name]
        return self._bad_blobs.get((btype, bytes(bid)))

    def tree_problems(self, tid: ObjectId) -> list[_Problem]:
        """(relative path, object, reason) for everything lost below this tree."""
        if tid in self._memo:
            return self._memo[tid]
        bad = self.where(BlobType.TREE, tid)
        if bad is not None:
            self._memo[tid] = [("", bad[0], bad[1])]
            return self._memo[tid]
        try:
            tree = self._repo.load_tree(tid)
        except S3VaultError as exc:
            self._memo[tid] = [("", f"tree blob {tid.hex()}", str(exc))]
            return self._memo[tid]
        found: list[_Problem] = []
        for node in tree.nodes:
            name = node.display_name
            if node.type is NodeType.FILE:
                for bid in node.content:
                    bad = self.where(BlobType.DATA, bid)
                    if bad is not None:
                        found.append((name, bad[0], bad[1]))
                        break
            elif node.type is NodeType.DIR and node.subtree is not None:
                found.extend(
                    (f"{name}/{p}" if p else name, o, r)
                    for p, o, r in self.tree_problems(node.subtree)
                )
        self._memo[tid] = found
        return found
