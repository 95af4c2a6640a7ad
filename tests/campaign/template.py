"""The campaign's template repository, built once per test module and per store, and what the
campaign knows about every object in it: its kind, its role, and which snapshots need it.

The repository (a fleet in miniature):

- three hosts (``alpha``, ``beta``, ``gamma``), each backing up its own tree; alpha and beta
  share a file, so some packs serve both hosts;
- 64 KiB packs, so every file of more than a few KiB has packs of its own and the damage
  to one pack reaches few files;
- two ``forget --prune`` runs on gamma: the second deletion record supersedes the first (whose
  bytes are kept as the "older object of the same kind" to put back), index files replaced;
- two restore drills, a password key and a recovery key, the audit records every CLI command
  writes, and index files from prune and from the backups after it.

Dependencies are computed from the pristine repository through the library: for each pack,
index file and deletion record, the blobs that would be lost with it (blobs no other live
object holds), and the snapshots whose trees reach one of them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3vault import InitOptions, RepoOptions, RepositorySettings, init, open_repository
from s3vault.format.deletionfile import DeletionFile
from s3vault.format.drillfile import DrillFile
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.marks import load_marks
from s3vault.repository.references import References
from s3vault.repository.snapshots import list_snapshots
from tests.campaign.runner import CliWorker, Outcome
from tests.conftest import PASSWORD, write_file
from tests.trees import snapshot_tree

# A 2 s minimum grace: prune marks packs older than 1 s (half the grace) and deletes marks
# older than 2 s, so the template's history takes seconds, not hours
SETTINGS = RepositorySettings(kdf_cost="minimum", pack_size=64 * 1024, min_grace=2)
GRACE = 2.0
HOSTS = ("alpha", "beta", "gamma")
UNCHANGED_HOST = "alpha"  # its source never changes after its last snapshot
CHANGING_HOST = "beta"  # the campaign adds a file to it for the backups of a changed tree
KINDS = (
    "config",
    "keys",
    "index",
    "snapshots",
    "data",
    "tree",
    "deletions",
    "drills",
    "audit",
)

Tree = dict[bytes, tuple[object, ...]]


@dataclass
class SnapshotInfo:
    """One snapshot of the template: what a restore of it must give back, byte for byte."""

    id: str
    label: str  # alpha#1, beta#2, ...: stable across templates, for reports
    host: str
    source: Path
    tree: Tree  # snapshot_tree(source) when it was taken
    listing: str = ""  # `s3vault ls ID` on the pristine template
    data: frozenset[str] = frozenset()  # data blob ids it references
    trees: frozenset[str] = frozenset()  # tree blob ids it references

    @property
    def short(self) -> str:
        return self.id[:8]


@dataclass
class RepoObject:
    """One object of the template and what its loss takes with it."""

    name: str
    kind: str
    role: str = ""  # "password key", "recovery key", "chain tail", ...
    dependents: frozenset[str] = frozenset()  # snapshot ids whose content needs it
    tree_dependents: frozenset[str] = frozenset()  # ... whose trees (ls) need it
    fatal: bool = False  # every command must stop with a clean error (config, the used key)
    drill_of: str = ""  # drills: the snapshot drilled


@dataclass
class Template:
    """The pristine template: every object's bytes, the catalogue, the snapshots."""

    store: str
    base: Path
    objects: dict[str, bytes]
    catalogue: list[RepoObject]
    snapshots: list[SnapshotInfo]
    sources: dict[str, Path]
    canary: Path
    canary_tree: Tree
    older: dict[str, list[bytes]] = field(default_factory=dict)  # kind → replaced objects
    foreign: dict[str, bytes] = field(default_factory=dict)  # kind → another repository's
    build_commands: int = 0

    def by_kind(self, kind: str) -> list[RepoObject]:
        """The objects of a kind in an order that does not depend on their (random) ids, so
        that a seed draws the same objects from every build of the template: by role, then
        size (audit records: by name, which starts with their number in the chain)."""
        objects = [o for o in self.catalogue if o.kind == kind]
        if kind == "audit":
            return sorted(objects, key=lambda o: o.name)
        return sorted(objects, key=lambda o: (o.role, len(self.objects[o.name]), o.name))

    def snapshot(self, sid: str) -> SnapshotInfo:
        return next(s for s in self.snapshots if s.id == sid)


def kind_of(name: str) -> str:
    return "config" if name == "config" else name.split("/", 1)[0]


# Building -------------------------------------------------------------------------------------


class Builder:
    """Runs the template's history through the CLI (so that audit records and drills are the
    real ones) and keeps what the campaign needs to know."""

    def __init__(
        self,
        base: Path,
        url: str,
        env: dict[str, str],
        worker: CliWorker,
        list_objects: Callable[[], dict[str, bytes]],
    ) -> None:
        self.base = base
        self.url = url
        self.env = env
        self.worker = worker
        self.list_objects = list_objects
        self.rng = random.Random(1414)
        self.sources = {h: base / "src" / h for h in HOSTS}
        self.snapshots: list[SnapshotInfo] = []
        self.counts = dict.fromkeys(HOSTS, 0)
        self.last_write = 0.0  # monotonic time of the last backup
        self.last_prune = 0.0

    def cli(self, *argv: str) -> Outcome:
        done = self.worker.run(["-r", self.url, *argv], env=self.env, cwd=self.base)
        assert done.code == 0, (argv, done.code, done.stdout, done.stderr, done.trace)
        return done

    def put(self, host: str, rel: str, data: bytes) -> None:
        write_file(self.sources[host] / rel, data)

    def random(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def backup(self, host: str) -> SnapshotInfo:
        done = self.cli("backup", str(self.sources[host]), "--host", host, "--json")
        summary = json.loads(done.stdout.splitlines()[-1])
        self.counts[host] += 1
        info = SnapshotInfo(
            id=summary["snapshot_id"],
            label=f"{host}#{self.counts[host]}",
            host=host,
            source=self.sources[host],
            tree=snapshot_tree(self.sources[host]),
        )
        self.snapshots.append(info)
        self.last_write = time.monotonic()
        return info

    def latest(self, host: str) -> SnapshotInfo:
        return [s for s in self.snapshots if s.host == host][-1]

    def forget_gamma(self) -> None:
        """Forget gamma's older snapshot and prune: its packs (older than half the grace by
        then) are marked, and the marks of the prune before (older than the grace) deleted."""
        ready = max(self.last_write + GRACE / 2, self.last_prune + GRACE) + 0.2
        time.sleep(max(0.0, ready - time.monotonic()))
        self.cli("forget", "--host", "gamma", "--keep-last", "1", "--prune")
        self.last_prune = time.monotonic()
        live = {s.id for s in self.snapshots if s.host != "gamma"}
        gamma = [s for s in self.snapshots if s.host == "gamma"]
        self.snapshots = [s for s in self.snapshots if s.id in live or s is gamma[-1]]

    def history(self) -> dict[str, list[bytes]]:
        """The whole history; returns the deletion records and index files that later steps
        replaced (for "replace with an older object of the same kind")."""
        shared = self.random(70_000)
        self.put("alpha", "etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n")
        self.put("alpha", "etc/app.conf", b"[app]\nworkers = 4\n" * 30)
        self.put("alpha", "data/a1.bin", self.random(90_000))
        self.put("alpha", "data/shared.bin", shared)
        self.put("alpha", "docs/readme.txt", b"the alpha host keeps its notes here\n" * 150)
        os.symlink("../etc/hosts", self.sources["alpha"] / "docs" / "hosts-link")
        self.put("beta", "www/index.html", b"<html><body>beta</body></html>\n")
        self.put("beta", "www/shared.bin", shared)
        self.put("beta", "data/b1.bin", self.random(100_000))
        self.put("beta", "data/b2.bin", self.random(40_000))
        self.put("gamma", "big.bin", self.random(150_000))
        self.put("gamma", "notes.txt", b"gamma notes\n" * 40)
        for host in HOSTS:
            self.backup(host)
        self.put("alpha", "data/a1.bin", self.random(90_000))
        self.put("alpha", "data/a2.bin", self.random(60_000))
        self.backup("alpha")
        (self.sources["gamma"] / "big.bin").unlink()
        self.put("gamma", "g2.bin", self.random(50_000))
        self.backup("gamma")
        self.forget_gamma()  # gamma#1 goes; its big.bin's packs are marked: deletion record 1
        first_round = self.list_objects()
        self.cli("restore-test", self.latest("alpha").id)  # drill record 1 (alpha#2)
        self.put("gamma", "notes.txt", b"gamma notes, revised\n" * 40)
        self.put("gamma", "g3.bin", self.random(30_000))
        self.backup("gamma")
        # gamma#2 goes; record 1's packs are deleted, gamma#2's marked: record 2 replaces 1
        self.forget_gamma()
        self.put("beta", "data/b3.bin", self.random(80_000))
        self.backup("beta")  # after the last prune: its own index file
        self.put("alpha", "docs/more.txt", b"more notes\n" * 20)
        self.backup("alpha")  # and another
        self.cli("restore-test", self.latest("beta").id)  # drill record 2 (beta#2)
        final = self.list_objects()
        replaced: dict[str, list[bytes]] = {}
        for name, data in first_round.items():
            if name not in final and kind_of(name) in ("deletions", "index"):
                replaced.setdefault(kind_of(name), []).append(data)
        return replaced


def build(
    store: str,
    base: Path,
    url: str,
    env: dict[str, str],
    worker: CliWorker,
    list_objects: Callable[[], dict[str, bytes]],
    init_repository: Callable[[RepoOptions, InitOptions], object],
) -> Template:
    """Build the template at ``url`` and describe it. ``list_objects`` reads every object of
    the repository at ``url``; the catalogue is computed from a local copy of them."""
    init_repository(
        RepoOptions(url=url, password=PASSWORD.encode()),
        InitOptions(settings=SETTINGS, recovery_key=True),
    )
    builder = Builder(base, url, env, worker, list_objects)
    older = builder.history()
    objects = list_objects()
    canary = base / "canary"
    write_file(canary / "keep.txt", b"nothing may write here\n")
    write_file(canary / "sub" / "data.bin", os.urandom(1000))
    local = base / "pristine"  # a local image of the repository, for the library's reads
    materialise_local(objects, local)
    template = Template(
        store=store,
        base=base,
        objects=objects,
        catalogue=[],
        snapshots=builder.snapshots,
        sources=builder.sources,
        canary=canary,
        canary_tree=snapshot_tree(canary),
        older=older,
        build_commands=worker.commands,
    )
    describe(template, local)
    foreign = base / "foreign"  # another repository with the same password: its config
    init(RepoOptions(url=str(foreign), password=PASSWORD.encode()), InitOptions(settings=SETTINGS))
    template.foreign["config"] = (foreign / "config").read_bytes()
    listings(template, worker, env, url)
    return template


def materialise_local(objects: dict[str, bytes], root: Path) -> None:
    for name, data in objects.items():
        write_file(root / name, data)


def describe(template: Template, local: Path) -> None:
    """Fill the catalogue: every object with its role and the snapshots that need it."""
    repo = open_repository(RepoOptions(url=str(local), password=PASSWORD.encode()))
    live = {sid.hex(): snap for sid, snap in list_snapshots(repo)}
    assert set(live) == {s.id for s in template.snapshots}, "template history drifted"
    for info in template.snapshots:
        refs = References()
        refs.add_snapshots_trees(repo, [live[info.id].tree])
        assert not refs.missing
        info.data = frozenset(b.hex() for b in refs.data)
        info.trees = frozenset(b.hex() for b in refs.trees)

    # Who holds which blob: index files, deletion records (their marked packs), packs.
    holders: dict[str, set[str]] = {}  # "d:<id>" / "t:<id>" → names of live holders
    pack_blobs: dict[str, set[str]] = {}
    index_blobs: dict[str, set[str]] = {}
    record_blobs: dict[str, set[str]] = {}

    def add(holder: str, blobs: set[str]) -> None:
        for b in blobs:
            holders.setdefault(b, set()).add(holder)

    def entries(pack: IndexedPack) -> set[str]:
        return {f"{e.type.value[0]}:{e.id.hex()}" for e in pack.entries}

    packs_by_id: dict[str, IndexedPack] = {}
    for oid in repo.list_files(ObjectKind.INDEX):
        ifile = IndexFile.decode(repo.load_file(ObjectKind.INDEX, oid))
        blobs = set().union(*(entries(p) for p in ifile.packs)) if ifile.packs else set()
        index_blobs[object_name(ObjectKind.INDEX, oid)] = blobs
        packs_by_id.update({p.id.hex(): p for p in ifile.packs})
    marks = load_marks(repo)
    for oid in marks.records:
        record = DeletionFile.decode(repo.load_file(ObjectKind.DELETIONS, oid))
        blobs = set()
        for m in record.packs:
            blobs |= entries(m.pack)
            packs_by_id.setdefault(m.pack.id.hex(), m.pack)
        record_blobs[object_name(ObjectKind.DELETIONS, oid)] = blobs
    for pid, pack in packs_by_id.items():
        pack_kind = ObjectKind.TREE if pack.entries[0].type is BlobType.TREE else ObjectKind.DATA
        pack_blobs[object_name(pack_kind, pid)] = entries(pack)
    for group in (index_blobs, record_blobs, pack_blobs):
        for holder, blobs in group.items():
            add(holder, blobs)

    def needing(lost: set[str]) -> tuple[frozenset[str], frozenset[str]]:
        data = {b[2:] for b in lost if b.startswith("d:")}
        trees = {b[2:] for b in lost if b.startswith("t:")}
        deps = {s.id for s in template.snapshots if s.data & data or s.trees & trees}
        tree_deps = {s.id for s in template.snapshots if s.trees & trees}
        return frozenset(deps), frozenset(tree_deps)

    def lost_with(holder: str, blobs: set[str], peers: dict[str, set[str]]) -> set[str]:
        """Blobs no other holder of the same standing (another index file or record, or
        another pack) still provides."""
        return {b for b in blobs if not (holders[b] & set(peers)) - {holder}}

    metadata = {**index_blobs, **record_blobs}
    tails = audit_tails(template.objects)
    for name in sorted(template.objects):
        kind = kind_of(name)
        obj = RepoObject(name=name, kind=kind)
        if kind == "config":
            obj.fatal, obj.role = True, "the config"
        elif kind == "keys":
            used = name == object_name(ObjectKind.KEYS, repo.key_id)
            obj.fatal = used
            obj.role = "the password's key" if used else "the recovery key"
        elif kind == "snapshots":
            sid = name.split("/")[-1].split(".")[0]  # snapshots/<id>.<group tag>
            obj.dependents = obj.tree_dependents = frozenset({sid})
            obj.role = template.snapshot(sid).label
        elif kind in ("index", "deletions"):
            obj.dependents, obj.tree_dependents = needing(lost_with(name, metadata[name], metadata))
        elif kind in ("data", "tree"):
            if name not in pack_blobs:
                obj.role = "a pack no index names"
            else:
                lost = lost_with(name, pack_blobs[name], pack_blobs)
                obj.dependents, obj.tree_dependents = needing(lost)
                marked = any(pack_blobs[name] <= b for b in record_blobs.values())
                obj.role = "a marked pack" if marked else ""
        elif kind == "audit":
            obj.role = "chain tail" if name in tails else ""
        elif kind == "drills":
            drill = DrillFile.decode(
                repo.load_file(ObjectKind.DRILLS, ObjectId.from_hex(name.split("/")[-1]))
            )
            obj.drill_of = drill.snapshot
            obj.role = f"drill of {template.snapshot(drill.snapshot).label}"
        if obj.dependents and not obj.role:
            labels = sorted(template.snapshot(s).label for s in obj.dependents)
            obj.role = "needed by " + ", ".join(labels)
        template.catalogue.append(obj)


def audit_tails(objects: dict[str, bytes]) -> set[str]:
    """The last record of each host's audit chain (its deletion leaves no gap to see)."""
    last: dict[str, str] = {}
    for name in objects:
        if kind_of(name) == "audit":
            chain = name.rsplit("/", 1)[0]
            last[chain] = max(last.get(chain, name), name)
    return set(last.values())


def listings(template: Template, worker: CliWorker, env: dict[str, str], url: str) -> None:
    """`s3vault ls` of every snapshot on the pristine template: what a listing must show."""
    fresh = {**env, "XDG_CACHE_HOME": str(template.base / "listing-cache")}
    for info in template.snapshots:
        done = worker.run(["-r", url, "ls", info.id], env=fresh, cwd=template.base)
        assert done.code == 0, done.stderr
        info.listing = done.stdout
    shutil.rmtree(template.base / "listing-cache", ignore_errors=True)
