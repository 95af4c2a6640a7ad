"""One campaign case: a fresh copy of the template, one object damaged one way, and the CLI
run against it as an operator would, every outcome checked against what the damage allows.

The commands, in order (every one through the real entry point, ``-r URL``):

    snapshots --json; ls ID (each snapshot); backup of an unchanged tree and of a changed
    tree (--json); restore ID (each snapshot, and the two new ones); verify --json;
    verify --read-data --json; forget --keep-last 1 --dry-run; prune --dry-run; audit;
    restore-test --history; repair index;
    then: backup of the changed tree (--json); verify --read-data --json; restore ID (each
    snapshot, and the three new ones).

What is checked, for each command: no traceback and no ``internal error``; the exit code is a
documented one and one the damage allows (tests/campaign/expect.py says which, and why); ``--json``
output is one JSON object with ``message_type`` per line. Snapshots that do not depend on the
damaged object list, show the same ``ls`` as on the pristine template and restore byte for
byte; a restore that exits 0 gives back exactly the snapshot; one that fails names every file
it got wrong; verify names only snapshots that depend on the damaged object. After the case
nothing outside the restore targets has changed: the source trees, a canary directory, the
working directory and the temporary directory.

Dependents of a new snapshot: a backup re-reads or re-stores what it cannot find (a lost pack,
a skipped index file, an unreadable parent), so its snapshot needs none of the damage, except
damage in place inside a pack the index still names, which a backup cannot see and
deduplicates against (restic does the same): then the new snapshot depends on what its
files' previous snapshot depended on.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from tests.campaign import expect
from tests.campaign.mutations import Damage, damage
from tests.campaign.results import CaseResult, Failure, Note, first_lines, last_lines
from tests.campaign.runner import CliWorker, Outcome, crash_site
from tests.campaign.stores import Store
from tests.campaign.template import (
    CHANGING_HOST,
    UNCHANGED_HOST,
    RepoObject,
    SnapshotInfo,
    Template,
    Tree,
)
from tests.conftest import PASSWORD
from tests.trees import snapshot_tree

DOCUMENTED = frozenset({0, 1, 2, 3, 10, 11, 12, 13, 14})
FIX = re.compile(r"s3vault [a-z]")  # "`s3vault repair index`", "s3vault forget ID", ...


@dataclass
class NewSnapshot:
    """A snapshot a case's backup made, and what it must restore to."""

    id: str
    label: str
    source: Path
    tree: Tree
    depends: bool  # needs the damaged object (see the module docstring)

    @property
    def short(self) -> str:
        return self.id[:8]


def json_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
    return out


class Case:
    """Damage one object of a fresh copy of the template and run the commands."""

    def __init__(
        self,
        *,
        template: Template,
        template_url: str,
        store: Store,
        obj: RepoObject,
        mutation: str,
        seed: int,
        workdir: Path,
        worker: CliWorker,
        base_env: dict[str, str],
    ) -> None:
        self.t = template
        self.template_url = template_url
        self.store = store
        self.obj = obj
        self.mutation = mutation
        self.rng = random.Random(seed)
        self.dir = workdir
        self.worker = worker
        self.result = CaseResult()
        self.url = ""
        self.how = ""
        self.new: list[NewSnapshot] = []
        self.added: list[Path] = []
        self.whole: dict[str, set[bytes]] = {}  # snapshot → files it restored whole (before)
        self.env = {
            **base_env,
            **store.env(),
            "S3VAULT_PASSWORD": PASSWORD,
            "XDG_CACHE_HOME": str(workdir / "cache"),  # a host that never saw the template
            "TMPDIR": str(workdir / "tmp"),
        }

    # Running ------------------------------------------------------------------------------

    def run(self) -> CaseResult:
        for sub in ("cache", "restore", "cwd", "tmp"):
            (self.dir / sub).mkdir(parents=True)
        self.url = self.store.materialise(self.t.objects, self.template_url, self.dir)
        try:
            self.apply(self.damage())
            self.before_repair()
            self.after_repair()
        finally:
            for path in self.added:
                path.unlink(missing_ok=True)
            if self.added:
                self.added[0].parent.rmdir()
            self.check_containment()
            self.store.discard(self.url)
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.result

    def damage(self) -> Damage:
        kind = self.obj.kind
        others = [
            (o.name, self.t.objects[o.name])
            for o in self.t.by_kind(kind)
            if o.name != self.obj.name
        ]
        others += [(f"an older {kind} object", data) for data in self.t.older.get(kind, [])]
        if kind in self.t.foreign:
            others.append((f"another repository's {kind}", self.t.foreign[kind]))
        return damage(self.mutation, self.t.objects[self.obj.name], self.rng, others)

    def apply(self, d: Damage) -> None:
        self.how = d.how
        if d.data is None:
            self.store.delete(self.url, self.obj.name)
        else:
            self.store.write(self.url, self.obj.name, d.data)

    def cli(self, label: str, argv: list[str], allowed: set[int], why: str) -> Outcome:
        """Run one command and check what every command must satisfy."""
        if self.obj.fatal:
            allowed, why = expect.fatal(self.obj, self.mutation)
        done = self.worker.run(["-r", self.url, *argv], env=self.env, cwd=self.dir / "cwd")
        self.result.commands += 1
        if done.runner_crash:
            self.note(label, f"the campaign runner crashed on it, {crash_site(done.runner_crash)}")
        word = argv[0] if argv[0] not in ("repair", "restore-test") else " ".join(argv[:2])
        self.result.seconds[word] = self.result.seconds.get(word, 0.0) + done.seconds
        text = done.stdout + done.stderr
        if done.code == -9:
            self.fail(label, done, "the command hung or its process died")
        elif done.code not in DOCUMENTED:
            self.fail(label, done, f"exit code {done.code} is not a documented one")
        if "internal error" in text:
            self.fail(label, done, "internal error")
        elif "Traceback" in text or done.trace:
            self.fail(label, done, "traceback")
        if done.code in DOCUMENTED and done.code not in allowed:
            self.fail(label, done, f"exit {done.code}, expected {sorted(allowed)}: {why}")
        if "--json" in argv:
            bad = [  # a message object, or restic's one array (snapshots)
                line
                for line in done.stdout.splitlines()
                if line.strip()
                and not line.startswith("[")
                and "message_type" not in (json_lines(line) or [{}])[0]
            ]
            if bad:
                self.fail(label, done, f"--json: a stdout line is no JSON message: {bad[0][:120]}")
        if self.obj.fatal and done.code != 0 and not done.stderr.strip():
            self.fail(label, done, "failed without a word on stderr")
        if self.obj.kind == "keys" and self.obj.fatal and done.code == 12:
            self.key_named(label, done)
        if done.code == 13 and not self.obj.fatal and not FIX.search(text):
            self.note(label, "exit 13, and no message names a command that fixes it")
        return done

    def key_named(self, label: str, done: Outcome) -> None:
        """Defect 11: a damaged key file is not "a wrong password". A file that no longer
        parses, or holds another key file's content, must be named; a flipped bit inside
        the wrapped key cannot be told from a wrong password (a note, then)."""
        key_id = self.obj.name.split("/")[-1][:8]
        if self.mutation == "delete" or key_id in done.stderr:
            return
        if self.mutation == "flip":
            self.note(label, "exit 12 without naming the damaged key file")
        else:
            self.fail(label, done, "exit 12 without naming the damaged key file")

    def fail(self, command: str, done: Outcome, problem: str) -> None:
        self.result.failures.append(
            Failure(
                store=self.store.name,
                kind=self.obj.kind,
                name=self.obj.name,
                role=self.obj.role,
                mutation=self.mutation,
                how=self.how,
                command=command,
                code=done.code,
                problem=problem,
                stderr=first_lines(done.stderr),
                trace=last_lines(done.trace),
            )
        )

    def note(self, command: str, text: str) -> None:
        self.result.notes.append(Note(self.store.name, self.obj.kind, self.mutation, command, text))

    # The commands ---------------------------------------------------------------------------

    def before_repair(self) -> None:
        self.snapshots()
        for info in self.t.snapshots:
            self.ls(info)
        self.backup(UNCHANGED_HOST, change=False, phase="")
        self.backup(CHANGING_HOST, change=True, phase="")
        self.restore_all("")
        self.verify(read_data=False, after_repair=False)
        self.verify(read_data=True, after_repair=False)
        forget = ["forget", "--keep-last", "1", "--dry-run"]
        self.cli(" ".join(forget), forget, *expect.forget())
        self.cli("prune --dry-run", ["prune", "--dry-run"], *expect.prune(self.obj))
        self.audit()
        self.drills()
        self.cli("repair index", ["repair", "index"], *expect.repair(self.obj, self.mutation))

    def after_repair(self) -> None:
        self.backup(CHANGING_HOST, change=True, phase=" (after repair)")
        self.verify(read_data=True, after_repair=True)
        self.restore_all(" (after repair)")

    def snapshots(self) -> None:
        done = self.cli("snapshots --json", ["snapshots", "--json"], {0}, "snapshots lists")
        if self.obj.fatal or done.code != 0:
            return
        try:  # restic's shape: one array on stdout; warnings (JSON) on stderr
            array = json.loads(done.stdout)
        except ValueError:
            array = None
        if not isinstance(array, list):
            self.fail("snapshots --json", done, "stdout is not one JSON array")
            return
        messages = json_lines(done.stderr)
        listed = {str(s["id"]) for s in array}
        everything = {s.id for s in self.t.snapshots}
        damaged = self.obj.dependents if self.obj.kind == "snapshots" else frozenset()
        missing = everything - damaged - listed
        if missing:
            labels = sorted(self.t.snapshot(s).label for s in missing)
            self.fail("snapshots --json", done, f"undamaged snapshots not listed: {labels}")
        if listed - everything:
            self.fail(
                "snapshots --json", done, f"lists unknown snapshots {sorted(listed - everything)}"
            )
        if self.obj.kind == "snapshots" and self.mutation != "delete":
            if damaged & listed:
                self.fail("snapshots --json", done, "the damaged snapshot file is listed")
            warned = {m.get("item") for m in messages if m.get("message_type") == "warning"}
            if self.obj.name not in warned:
                self.fail("snapshots --json", done, "the damaged snapshot file is not named")

    def ls(self, info: SnapshotInfo) -> None:
        label = f"ls {info.label}"
        done = self.cli(label, ["ls", info.id], *expect.listing(self.obj, self.mutation, info.id))
        if not self.obj.fatal and done.code == 0 and done.stdout != info.listing:
            self.fail(label, done, "exit 0 but the listing differs from the undamaged one")

    def backup(self, host: str, *, change: bool, phase: str) -> None:
        source = self.t.sources[host]
        label = f"backup ({'changed' if change else 'unchanged'} {host}){phase}"
        if change:
            path = source / "campaign" / f"new-{len(self.added)}.bin"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(self.rng.randbytes(20_000))
            self.added.append(path)
        tree = snapshot_tree(source)
        done = self.cli(label, ["backup", str(source), "--host", host, "--json"], *expect.backup())
        if self.obj.fatal or done.code != 0:
            return
        summaries = [m for m in json_lines(done.stdout) if "snapshot_id" in m]
        if not summaries:
            self.fail(label, done, "exit 0 but no snapshot id in the summary")
            return
        parent = [s for s in self.t.snapshots if s.host == host][-1]
        self.new.append(
            NewSnapshot(
                id=str(summaries[-1]["snapshot_id"]),
                label=f"new {host}#{len(self.new) + 1}",
                source=source,
                tree=tree,
                depends=expect.new_depends(self.obj, self.mutation, parent.id),
            )
        )

    def restore_all(self, phase: str) -> None:
        """Restore every snapshot. After the repair, every file that restored whole before it
        must restore whole again: a repair never makes a repository worse (defect 3)."""
        for info in self.t.snapshots:
            allowed = expect.restoring(self.obj, self.mutation, info.id)
            self.restore(info.label, phase, info.id, info.source, info.tree, allowed)
        for new in self.new:
            allowed = expect.restoring_new(new.depends)
            self.restore(new.label, phase, new.id, new.source, new.tree, allowed)

    def restore(
        self,
        name: str,
        phase: str,
        sid: str,
        source: Path,
        tree: Tree,
        allowed: expect.Allowed,
    ) -> None:
        label = f"restore {name}{phase}"
        target = self.dir / "restore" / f"{name}{phase}".replace(" ", "_").replace("#", "-")
        done = self.cli(label, ["restore", sid, "--target", str(target)], *allowed)
        root = target / source.relative_to("/")
        outside = [
            p
            for p in (target.rglob("*") if target.exists() else [])
            if not (p == root or root in p.parents or p in root.parents)
        ]
        if outside:
            self.fail(label, done, f"wrote outside the snapshot's paths: {outside[:3]}")
        got = snapshot_tree(root) if root.exists() and not self.obj.fatal else {}
        shutil.rmtree(target, ignore_errors=True)
        if self.obj.fatal:
            return
        if done.code == 0 and got != tree:
            self.fail(label, done, "exit 0 but the restored tree differs: " + diff(tree, got))
        elif done.code != 0:
            said = done.stderr + done.stdout
            wrong = [
                text
                for rel, entry in got.items()
                if stat.S_ISREG(int(entry[0]))  # type: ignore[call-overload]
                and entry != tree.get(rel)
                and (text := rel.decode(errors="replace")) not in said
            ]
            if wrong:
                self.fail(label, done, f"restored files that differ and are not named: {wrong[:3]}")
        whole = {
            rel
            for rel, entry in got.items()
            if stat.S_ISREG(int(entry[0])) and entry == tree.get(rel)  # type: ignore[call-overload]
        }
        if not phase:
            self.whole[sid] = whole
        elif sid in self.whole and self.whole[sid] - whole:
            lost = sorted(r.decode(errors="replace") for r in self.whole[sid] - whole)
            self.fail(
                label, done, f"files that restored before the repair no longer do: {lost[:3]}"
            )

    def verify(self, *, read_data: bool, after_repair: bool) -> None:
        argv = ["verify", "--json"] + (["--read-data"] if read_data else [])
        label = (
            "verify"
            + (" --read-data" if read_data else "")
            + (" (after repair)" if after_repair else "")
        )
        allowed, why = expect.verify(
            self.obj, self.mutation, read_data=read_data, after_repair=after_repair
        )
        done = self.cli(label, argv, allowed, why)
        if self.obj.fatal or done.code not in (0, 13):
            return
        if done.code == 0 and 13 in allowed:
            self.note(label, "exit 0: the damage went unnoticed")
        findings = [m for m in json_lines(done.stdout) if m.get("message_type") == "finding"]
        errors = [f for f in findings if f.get("severity") == "error"]
        may = {s[:8] for s in self.obj.dependents} | {n.short for n in self.new if n.depends}
        named = {str(s)[:8] for f in errors for s in f.get("snapshots") or []}  # type: ignore[attr-defined]
        if named - may:
            labels = sorted(self.label_of(s) for s in named - may)
            self.fail(
                label, done, f"findings name snapshots that need none of the damage: {labels}"
            )
        if done.code == 13 and not errors:
            self.fail(label, done, "exit 13 without an error finding")
        if done.code == 0 and errors:
            self.fail(label, done, "exit 0 with error findings")
        must_name = allowed == {13} and not (self.obj.kind == "index" and self.mutation == "delete")
        if must_name and done.code == 13 and self.obj.name not in done.stdout + done.stderr:
            self.fail(label, done, "the damaged object is not named")

    def audit(self) -> None:
        allowed, why = expect.audit(self.obj, self.mutation)
        done = self.cli("audit", ["audit"], allowed, why)
        if done.code == 0 and 13 in allowed:
            self.note("audit", "exit 0: the damage went unnoticed")

    def drills(self) -> None:
        allowed = expect.drill_history(self.obj)
        done = self.cli("restore-test --history", ["restore-test", "--history"], *allowed)
        if self.obj.fatal or done.code not in (0, 13):
            return
        intact = [o for o in self.t.by_kind("drills") if o.name != self.obj.name]
        missing = [o.role for o in intact if o.drill_of[:8] not in done.stdout]
        if missing:
            self.fail("restore-test --history", done, f"intact drills not listed: {missing}")

    def label_of(self, short: str) -> str:
        for s in self.t.snapshots:
            if s.short == short:
                return s.label
        for n in self.new:
            if n.short == short:
                return n.label
        return short

    # After the case -------------------------------------------------------------------------

    def check_containment(self) -> None:
        dummy = Outcome(0, "", "")
        if snapshot_tree(self.t.canary) != self.t.canary_tree:
            self.fail("(containment)", dummy, "the canary directory changed")
        for host, source in self.t.sources.items():
            expected = [s for s in self.t.snapshots if s.host == host][-1].tree
            if snapshot_tree(source) != expected:
                self.fail("(containment)", dummy, f"the source tree of {host} changed")
        allowed = {"cache", "restore", "cwd", "tmp", "repo"}
        extra = sorted(p.name for p in self.dir.iterdir() if p.name not in allowed)
        for sub in ("cwd", "tmp", "restore"):
            extra += [f"{sub}/{p.name}" for p in (self.dir / sub).iterdir()]
        if extra:
            self.fail("(containment)", dummy, f"files written outside the targets: {extra[:5]}")


def diff(expected: Tree, got: Tree) -> str:
    missing = sorted(k.decode(errors="replace") for k in expected.keys() - got.keys())
    extra = sorted(k.decode(errors="replace") for k in got.keys() - expected.keys())
    changed = sorted(
        k.decode(errors="replace") for k in expected.keys() & got.keys() if expected[k] != got[k]
    )
    parts = []
    for what, items in (("missing", missing), ("extra", extra), ("different", changed)):
        if items:
            parts.append(f"{what} {items[:3]}{'…' if len(items) > 3 else ''}")
    return "; ".join(parts) or "?"


def environment() -> dict[str, str]:
    """The environment of every CLI run: this one without s3vault's own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("S3VAULT_")}
