"""`make bench-prune`: peak memory and time of prune and verify on a repository of many blobs.

Builds a local repository through the library, quickly: tiny blobs (8 bytes each, no files
read), sealed and packed by the repository's own PackWriter into packs of ``--per-pack`` blobs,
indexed by index files of 4,096 packs, and reached by one snapshot whose trees list them as file
contents (``--per-tree`` blob ids per tree). One pack in 20 is referenced by no snapshot (prune
marks it) and one in 100 is half referenced (a repack candidate). Every object is then aged
past the prune grace period, so prune decides as it would on an old repository.

Then runs, each in its own process so the peak resident set is the command's alone:
``verify`` (structure: index files, pack listing, the tree walk; no pack is read), ``prune``
(plan and execute), and ``verify`` again; ``--steps`` chooses others (``repair``: repair index,
which reads every pack's header; ``copy``: every snapshot into a new repository beside it).
Prints a table with wall time and peak RSS (``VmHWM`` of the child), and the per-blob slope
above the interpreter's own footprint.

The key file uses the "minimum" KDF profile, so the key derivation's memory does not hide the
maintenance's own.

    make bench-prune                         # 10^7 blobs in 10^5 packs (the issue's size)
    .venv/bin/python bench/prune_memory.py --blobs 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from s3vault import InitOptions, RepoOptions, SystemClock, init, open_repository
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.maintenance.prune import PruneOptions
from s3vault.ops.copy import copy
from s3vault.ops.prune import prune
from s3vault.ops.repair import repair_index
from s3vault.ops.verify import verify
from s3vault.repository.packer import PackWriter
from s3vault.repository.repository import Repository, RepositorySettings

PASSWORD = b"bench-prune"
PACKS_PER_INDEX = 4096
AGE = 3 * 24 * 3600  # past any grace period
SETTINGS = RepositorySettings(kdf_cost="minimum", compression_level=1)


def _pack_blobs(
    repo: Repository, btype: BlobType, blobs: list[tuple[ObjectId, bytes]]
) -> IndexedPack:
    """Seal ``blobs`` into one pack, store it, and return its index entry."""
    writer = PackWriter(btype, repo.sealer, 64 << 10)
    for bid, data in blobs:
        sealed = repo.sealer.seal_blob(btype, bid, data, 1, verify=False)
        writer.add(bid, sealed, len(data))
    entries = tuple(writer.entries)
    pack_id, data = writer.finish()
    kind = ObjectKind.DATA if btype is BlobType.DATA else ObjectKind.TREE
    repo.backend.put(object_name(kind, pack_id), data)
    return IndexedPack(id=pack_id, size=len(data), epoch=writer.epoch, entries=entries)


class _Indexer:
    """Writes an index file every PACKS_PER_INDEX packs."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.packs: list[IndexedPack] = []
        self.files = 0

    def add(self, pack: IndexedPack) -> None:
        self.packs.append(pack)
        if len(self.packs) >= PACKS_PER_INDEX:
            self.flush()

    def flush(self) -> None:
        if self.packs:
            self.repo.save_index(IndexFile(packs=tuple(self.packs)))
            self.packs = []
            self.files += 1


def build(url: str, blobs: int, per_pack: int, per_tree: int) -> dict[str, float]:
    """Create and fill the repository; returns figures about it."""
    init(RepoOptions(url=url, password=PASSWORD), InitOptions(settings=SETTINGS))
    repo = open_repository(RepoOptions(url=url, password=PASSWORD))
    indexer = _Indexer(repo)
    sealer = repo.sealer
    referenced: list[ObjectId] = []  # ids for the tree being filled
    tree_ids: list[ObjectId] = []
    tree_blobs: list[tuple[ObjectId, bytes]] = []
    unused = 0

    def emit_tree(content: list[ObjectId]) -> None:
        nodes = [
            Node(name=b"f%08d" % n, type=NodeType.FILE, content=tuple(content[s : s + per_pack]))
            for n, s in enumerate(range(0, len(content), per_pack))
        ]
        data = Tree(nodes=tuple(nodes)).encode()
        tid = sealer.blob_id(data)
        tree_ids.append(tid)
        tree_blobs.append((tid, data))
        if len(tree_blobs) >= 16:
            indexer.add(_pack_blobs(repo, BlobType.TREE, tree_blobs))
            tree_blobs.clear()

    packs = blobs // per_pack
    for p in range(packs):
        pack = []
        for i in range(per_pack):
            data = struct.pack("<Q", p * per_pack + i)
            pack.append((sealer.blob_id(data), data))
        indexer.add(_pack_blobs(repo, BlobType.DATA, pack))
        if p % 20 == 19:
            unused += per_pack
            continue  # no snapshot needs this pack: prune marks it
        keep = pack[: per_pack // 2] if p % 100 == 50 else pack  # half used: repack candidate
        unused += per_pack - len(keep)
        referenced.extend(bid for bid, _ in keep)
        if len(referenced) >= per_tree:
            emit_tree(referenced)
            referenced = []
    if referenced:
        emit_tree(referenced)
    root_nodes = tuple(
        Node(name=b"d%08d" % n, type=NodeType.DIR, mode=0o755, subtree=tid)
        for n, tid in enumerate(tree_ids)
    )
    root = Tree(nodes=root_nodes).encode()
    root_id = sealer.blob_id(root)
    tree_blobs.append((root_id, root))
    indexer.add(_pack_blobs(repo, BlobType.TREE, tree_blobs))
    indexer.flush()
    snap = SnapshotFile(
        time=datetime(2026, 1, 1, tzinfo=UTC), tree=root_id, paths=("/bench",), hostname="bench"
    )
    repo.save_file(ObjectKind.SNAPSHOTS, snap.encode())
    return {
        "blobs": packs * per_pack + len(tree_ids) + 1,
        "packs": len(repo.list_packs()),
        "index_files": indexer.files,
        "unused_blobs": unused,
        "trees": len(tree_ids) + 1,
    }


def age(path: Path) -> None:
    """Set every object's modification time back past the grace period."""
    old = SystemClock().now().timestamp() - AGE
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            os.utime(os.path.join(dirpath, f), (old, old))


def peak_mib() -> float:
    """This process's peak resident set: VmHWM belongs to the process's own address space
    (``ru_maxrss`` would also count the parent's resident set at the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: str, url: str) -> None:
    """Child process: run one command, print its figures as JSON."""
    t0 = time.perf_counter()
    # As the command line opens it for these commands: they read the index their own way.
    repo = open_repository(RepoOptions(url=url, password=PASSWORD), load_index=False)
    if step == "verify":
        result = verify(repo)
        detail = f"{result.packs} packs, {len(result.findings)} findings, ok={result.ok}"
    elif step == "copy":
        target = url + "-copy"
        shutil.rmtree(target, ignore_errors=True)
        init(RepoOptions(url=target, password=PASSWORD), InitOptions(settings=SETTINGS))
        dst = open_repository(RepoOptions(url=target, password=PASSWORD), load_index=False)
        copied = copy(repo, dst)
        detail = f"{len(copied.copied)} snapshots, {copied.blobs_sent} blobs sent"
    elif step == "repair":
        fixed = repair_index(repo)
        detail = f"{fixed.packs} packs, {fixed.blobs} blobs, changed={fixed.changed}"
    else:
        r = prune(repo, PruneOptions(grace=24 * 3600))
        detail = (
            f"kept {r.packs_kept}, marked {r.packs_marked}, repacked {r.packs_repacked} "
            f"({r.blobs_repacked} blobs)"
        )
    seconds = time.perf_counter() - t0
    peak = peak_mib()
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "detail": detail}))


def measure(step: str, url: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, "--url", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def baseline() -> float:
    """Peak RSS of a child that imports s3vault and opens nothing (the interpreter's floor)."""
    code = "import s3vault, bench.prune_memory as b; print(b.peak_mib())"
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=root
    )
    return float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--blobs", type=int, default=10_000_000, help="data blobs (default 10^7)")
    ap.add_argument("--per-pack", type=int, default=100, help="blobs per pack (default 100)")
    ap.add_argument("--per-tree", type=int, default=1000, help="blob ids per tree")
    ap.add_argument("--dir", default=None, help="where to build (default: a temporary dir)")
    ap.add_argument("--keep", action="store_true", help="keep the repository afterwards")
    ap.add_argument("--reuse", action="store_true", help="--dir holds a built repository")
    ap.add_argument(
        "--steps",
        default="verify,prune,verify",
        help="commands to measure, in order (verify, prune, repair: repair index, copy)",
    )
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        run_step(args.step, args.url)
        return
    top = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="s3v-bench-prune-"))
    url = str(top / "repo")
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            facts = build(url, args.blobs, args.per_pack, args.per_tree)
            age(Path(url))
            print(
                f"built {facts['blobs']:,} blobs in {facts['packs']:,} packs, "
                f"{facts['index_files']} index files, {facts['trees']:,} trees, "
                f"{facts['unused_blobs']:,} blobs no snapshot needs, "
                f"in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        floor = baseline()
        print(f"load: {os.getloadavg()[0]:.2f}; interpreter with s3vault imported: {floor:.0f} MiB")
        print(f"{'step':<8} {'time s':>8} {'peak RSS MiB':>13} {'B/blob':>7}  detail")
        for step in filter(None, args.steps.split(",")):
            r = measure(step, url)
            peak = float(r["peak_mib"])  # type: ignore[arg-type]
            slope = (peak - floor) * 1024 * 1024 / args.blobs
            print(
                f"{step:<8} {float(r['seconds']):>8.1f} {peak:>13.0f} {slope:>7.0f}  {r['detail']}",  # type: ignore[arg-type]
                flush=True,
            )
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
