"""forget, prune and unlock through the real entry point; kills at named crash points."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3vault import RepoOptions, open_repository
from s3vault.repository.lease import Lease
from tests.cliserver import CliServer
from tests.conftest import PASSWORD, RunCli, cli_runner, write_file
from tests.timetravel import age_directory
from tests.trees import snapshot_tree


def make_repo(tmp_path: Path, run_cli: RunCli) -> str:
    url = str(tmp_path / "repo")
    done = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--pack-size", "1", "--min-grace", "1s"
    )
    assert done.code == 0, done.stderr
    return url


def backup(run_cli: RunCli, url: str, src: Path, *extra: str) -> str:
    done = run_cli("-r", url, "backup", str(src), "--json", *extra)
    assert done.code == 0, done.stderr
    return str(json.loads(done.stdout.splitlines()[-1])["snapshot_id"])


def test_forget_dry_run_shows_exactly_what_forget_then_does(
    tmp_path: Path, run_cli: RunCli
) -> None:
    url = make_repo(tmp_path, run_cli)
    src = tmp_path / "src"
    for _i in range(4):
        write_file(src / "f", os.urandom(1000))
        backup(run_cli, url, src)
    dry = run_cli("-r", url, "forget", "--keep-last", "2", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    planned = [json.loads(line) for line in dry.stdout.splitlines()]
    removed = {
        d["snapshot_id"] for d in planned if d.get("message_type") == "decision" and not d["keep"]
    }
    assert len(removed) == 2
    done = run_cli("-r", url, "forget", "--keep-last", "2", "--json")
    assert done.code == 0, done.stderr
    left = run_cli("-r", url, "snapshots", "--json")
    ids = {s["id"] for s in json.loads(left.stdout)}
    assert len(ids) == 2 and not ids & removed
    refused = run_cli("-r", url, "forget", "--keep-tag", "no-such-tag")
    assert refused.code == 2
    assert "refusing" in refused.stderr
    after = json.loads(run_cli("-r", url, "snapshots", "--json").stdout)
    assert len(after) == 2
    # forget --prune with prune options that cannot be used is refused before a snapshot
    # goes (they were checked after: snapshots removed, then exit 2 or 11)
    for bad, says in (
        (["--grace", "0s"], "below this repository's minimum"),  # its minimum is 1s
        (["--lease-ttl", "0s"], "--lease-ttl 0s"),
        (["--max-unused", "5"], "give a percentage"),  # restic: 5 bytes; it was read as 5 %
        (["--max-unused", "100M"], "give a percentage"),
    ):
        refused = run_cli("-r", url, "forget", "--keep-last", "1", "--prune", *bad)
        assert refused.code == 2 and says in refused.stderr, (bad, refused.stderr)
        assert len(json.loads(run_cli("-r", url, "snapshots", "--json").stdout)) == 2, bad


def test_a_second_pruner_exits_11_and_unlock_leaves_a_live_lease(
    tmp_path: Path, run_cli: RunCli
) -> None:
    url = make_repo(tmp_path, run_cli)
    repo = open_repository(RepoOptions(url=url, password=PASSWORD.encode()), load_index=False)
    held = Lease.acquire(repo, "prune")
    done = run_cli("-r", url, "prune")
    assert done.code == 11, done.stderr
    assert "being maintained" in done.stderr and f"pid {os.getpid()}" in done.stderr
    assert run_cli("-r", url, "unlock").code == 0
    assert run_cli("-r", url, "prune").code == 11  # a live lease stays
    # forget --prune is refused before it removes a snapshot (it removed them, then exit 11)
    src = write_file(tmp_path / "src" / "f", b"one").parent
    for _ in range(2):
        assert run_cli("-r", url, "backup", str(src), "--force", "-q").code == 0
    refused = run_cli("-r", url, "forget", "--keep-last", "1", "--prune")
    assert refused.code == 11 and "nothing was forgotten" in refused.stderr, refused.stderr
    assert len(json.loads(run_cli("-r", url, "snapshots", "--json").stdout)) == 2
    dry = run_cli("-r", url, "forget", "--keep-last", "1", "--prune", "--dry-run")
    assert dry.code == 0, dry.stderr  # a dry run takes no lease and removes nothing
    bad_dry = run_cli("-r", url, "forget", "-l", "1", "--prune", "--dry-run", "--max-unused", "5")
    assert bad_dry.code == 2  # what the real run refuses, the dry run refuses too
    assert run_cli("-r", url, "unlock", "--remove-all").code == 0
    assert run_cli("-r", url, "prune").code == 0
    del held


BACKUP_POINTS = [("backup", "pack-stored", n) for n in (1, 2, 3, 4)] + [
    ("backup", "before-index", 1),
    ("backup", "after-index", 1),
    ("backup", "backup-before-snapshot", 1),
]
PRUNE_POINTS = [
    ("prune", "pack-stored", 1),  # a repacked pack
    ("prune", "after-index", 1),  # the repacked packs' index file
    ("prune", "prune-after-repack", 1),
    ("prune", "prune-after-recheck", 1),
    ("prune", "prune-after-mark", 1),
    ("prune", "prune-after-index", 1),
    ("prune", "prune-before-delete", 1),
    ("prune", "prune-mid-delete", 1),  # after a batch of deletions
    ("prune", "mid-delete", 2),  # inside one (the local store deletes one by one)
    ("prune", "prune-after-delete", 1),
]


@dataclass(frozen=True)
class Prepared:
    """A repository (and its cache) in the state just before the command a test kills, and
    the source it was backed up from, which the tests only read."""

    repo: Path
    cache: Path
    src: Path
    survivor: str  # the snapshot that must survive the kill
    kept_tree: dict[bytes, tuple[object, ...]]

    def copy_for(self, tmp_path: Path) -> str:
        """A copy of the repository for one test (file times kept: the store's clock), and
        of its cache into the test's own cache directory (cli_env)."""
        shutil.copytree(self.cache, tmp_path / "xdg-cache", dirs_exist_ok=True)
        return str(shutil.copytree(self.repo, tmp_path / "repo"))


@pytest.fixture(scope="module")
def prepared(
    tmp_path_factory: pytest.TempPathFactory, cli_server: CliServer | None
) -> dict[str, Prepared]:
    """The states before the killed backup and before the killed prune, built once per test
    process instead of once per crash point (ten prunes, seven backups, 2.6 s of real waits)."""
    out = {}
    for command in ("backup", "prune"):
        base = tmp_path_factory.mktemp(f"crash-{command}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("S3VAULT_")}
        env.update(S3VAULT_PASSWORD=PASSWORD, XDG_CACHE_HOME=str(base / "xdg-cache"))
        run_cli = cli_runner(env, cli_server)
        url = make_repo(base, run_cli)
        src = base / "src"
        for i in range(6):
            write_file(src / f"f{i}", os.urandom(400_000))
        survivor = backup(run_cli, url, src)
        kept_tree = snapshot_tree(src)
        for i in range(3):
            write_file(src / f"f{i}", os.urandom(400_000))
        write_file(src / "big", os.urandom(3_000_000))
        if command == "backup":
            # twelve more files of 400 kB: at least four packs of 1 MiB stored by the killed
            # backup whatever order its workers hand the blobs over in (with only "big" and
            # three changed files, a loaded machine's order made 3 packs one time in 12)
            for i in range(12):
                write_file(src / f"n{i}", os.urandom(400_000))
        if command == "prune":
            # two prunes so that the killed one has marks old enough to delete
            survivor = backup(run_cli, url, src)
            kept_tree = snapshot_tree(src)
            assert run_cli("-r", url, "forget", "--keep-last", "1").code == 0
            # packs younger than half the grace are spared (a running backup's, perhaps): a
            # fast machine reaches this prune sooner than that, and it would mark nothing
            age_directory(url, 0.6)
            assert run_cli("-r", url, "prune", "--max-unused", "0%").code == 0
            age_directory(url, 2)  # the marks age past the grace (1 s)
            write_file(src / "f5", b"changed")  # partly used packs to repack
            survivor = backup(run_cli, url, src)
            kept_tree = snapshot_tree(src)
            assert run_cli("-r", url, "forget", "--keep-last", "1").code == 0
        out[command] = Prepared(Path(url), base / "xdg-cache", src, survivor, kept_tree)
    return out


@pytest.mark.parametrize(("command", "point", "passage"), BACKUP_POINTS + PRUNE_POINTS)
def test_a_kill_at_a_crash_point_loses_nothing(
    tmp_path: Path,
    run_cli: RunCli,
    cli_env: dict[str, str],
    prepared: dict[str, Prepared],
    command: str,
    point: str,
    passage: int,
) -> None:
    state = prepared[command]
    url, src = state.copy_for(tmp_path), state.src
    survivor, kept_tree = state.survivor, state.kept_tree
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": f"{point}:{passage}"}
    if command == "prune":
        killed = run_cli("-r", url, "prune", "--max-unused", "0%", env=env)
    else:
        killed = run_cli("-r", url, "backup", str(src), env=env)
    # it really died at that point
    assert killed.code == -9, (killed.code, killed.stdout, killed.stderr)
    check = run_cli("-r", url, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
    out = tmp_path / "out"
    done = run_cli("-r", url, "restore", survivor, "-t", str(out))
    assert done.code == 0, done.stderr
    assert snapshot_tree(out / str(src).lstrip("/")) == kept_tree
    backup(run_cli, url, src)  # the next backup and prunes succeed
    for _ in range(2):
        age_directory(url, 1.1)  # past the grace: the kill's garbage is marked, then deleted
        done = run_cli("-r", url, "prune", "--max-unused", "0%")
        assert done.code == 0, done.stderr
    check = run_cli("-r", url, "verify", "--read-data", "--json")
    assert check.code == 0, check.stdout
    findings = [json.loads(line) for line in check.stdout.splitlines()]
    leftovers = [f["object"] for f in findings if f.get("kind") == "pack-unreferenced"]
    assert leftovers == []  # the garbage the kill left was reclaimed past the grace


def test_prune_removes_old_temporary_files_and_verify_reports_them(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Defect 12: killed writes leave .tmp-* files. verify reports them (information, exit
    0); prune removes those older than the grace period (1 day here) and says how many and
    how big, and leaves a younger one (a write perhaps under way)."""
    src = tmp_path / "src"
    write_file(src / "f", os.urandom(5000))
    backup(run_cli, cli_repo, src)

    def stored() -> list[Path]:  # packs and snapshots (prune rewrites the index)
        return sorted(
            p
            for kind in ("data", "tree", "snapshots")
            for p in Path(cli_repo, kind).rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    objects = stored()
    old = os.stat(Path(cli_repo, "config")).st_mtime - 2 * 86400
    leftovers = [
        write_file(Path(cli_repo, "data", "7f", ".tmp-0123456789abcdef"), os.urandom(70_000)),
        write_file(Path(cli_repo, ".tmp-clock-0011223344556677"), b""),
    ]
    for path in leftovers:
        os.utime(path, (old, old))
    fresh = write_file(Path(cli_repo, "tree", "01", ".tmp-fedcba9876543210"), b"x" * 10)
    checked = run_cli("-r", cli_repo, "verify")
    assert checked.code == 0, checked.stderr
    assert "3 temporary file(s), 70010 bytes, left by interrupted writes" in checked.stdout
    dry = run_cli("-r", cli_repo, "prune", "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "would remove 2 temporary files" in dry.stdout
    assert all(p.exists() for p in leftovers)
    done = run_cli("-r", cli_repo, "prune", "--json")
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["temporaries_deleted"], summary["temporaries_bytes"]) == (2, 70_000)
    assert summary["young_temporaries"] == 1
    assert not any(p.exists() for p in leftovers) and fresh.exists()
    assert stored() == objects
    again = run_cli("-r", cli_repo, "verify")
    assert "1 temporary file(s), 10 bytes" in again.stdout


def test_a_lease_dated_ahead_of_the_stores_clock_is_said_as_such(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A lease whose time is ahead of the store's clock (the clock went back since it was
    written) blocked maintenance with 'refreshed -2591999s ago', and the advised `unlock`
    left it in place. The message now says what happened and what removes it."""
    url = make_repo(tmp_path, run_cli)
    repo = open_repository(RepoOptions(url=url, password=PASSWORD.encode()), load_index=False)
    held = Lease.acquire(repo, "prune")
    lease = Path(url) / "locks" / "maintenance"
    ahead = lease.stat().st_mtime + 30 * 86400  # the store's clock: the file system's
    os.utime(lease, (ahead, ahead))
    done = run_cli("-r", url, "prune")
    assert done.code == 11, done.stderr
    assert "ahead of the store's clock" in done.stderr and "unlock --remove-all" in done.stderr
    assert "-25" not in done.stderr  # no negative age
    del held


def test_a_killed_backups_pack_is_marked_then_deleted_a_grace_later(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A pack no index file names (its backup was killed) is marked by one prune, as an unused
    pack is, and deleted by one a grace later; the first says it stays marked (it said 0)."""
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--min-grace", "1s", "--no-recovery-key")
    assert run_cli("-r", url, *init).code == 0
    src = write_file(tmp_path / "src" / "f.bin", os.urandom(300_000)).parent
    killed = run_cli(
        "-r", url, "backup", str(src), env={**cli_env, "S3VAULT_TEST_CRASH_AT": "pack-stored"}
    )
    assert killed.code == -9
    age_directory(url, 1.5)
    first = run_cli("-r", url, "prune")
    assert first.code == 0 and "mark 1 for deletion" in first.stdout, first.stdout
    assert "1 packs stay marked" in first.stdout, first.stdout
    age_directory(url, 1.5)
    second = run_cli("-r", url, "prune")
    assert second.code == 0 and "delete 1 marked long enough" in second.stdout, second.stdout
    assert not [p for p in Path(url, "data").rglob("*") if p.is_file()]


@pytest.mark.parametrize("point", ["prune-after-mark", "prune-after-index", "prune-mid-delete"])
def test_a_kill_while_prune_frees_a_killed_backups_copies_loses_nothing(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], point: str
) -> None:
    """A backup killed after its pack, the same data stored again by the next run: prune
    keeps one copy and frees the other (design.md §10). Killed at a point of either prune
    (marking the copy, or deleting it), a prune run again finishes the job; verify reads
    everything back and the snapshot restores."""
    url = make_repo(tmp_path, run_cli)
    src = write_file(tmp_path / "src" / "f.bin", os.urandom(300_000)).parent
    crashed = {**cli_env, "S3VAULT_TEST_CRASH_AT": "pack-stored"}
    assert run_cli("-r", url, "backup", str(src), env=crashed).code == -9
    snapshot = backup(run_cli, url, src)  # stores f.bin again
    killed_once = False
    for _ in range(4):  # marks, deletes a grace later; once killed at the point
        age_directory(url, 1.2)
        env = cli_env if killed_once else {**cli_env, "S3VAULT_TEST_CRASH_AT": point}
        done = run_cli("-r", url, "prune", env=env)
        if done.code == -9:
            killed_once = True
            continue
        assert done.code == 0, done.stdout + done.stderr
    assert killed_once
    check = run_cli("-r", url, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
    data_packs = [p for p in Path(url, "data").rglob("*") if p.is_file()]
    assert len(data_packs) == 1  # the copy is gone, the kept one stays
    out = tmp_path / "out"
    assert run_cli("-r", url, "restore", snapshot, "-t", str(out)).code == 0
    assert snapshot_tree(out / src.relative_to("/")) == snapshot_tree(src)


def test_young_packs_no_snapshot_uses_are_said_not_hidden(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A forgotten snapshot's packs, minutes old, are kept (a running backup's, perhaps) and
    prune said "0 B unused" over 772 MiB of them (an attack pass, 2026-12-07): it says them."""
    src = write_file(tmp_path / "src" / "big.bin", os.urandom(3 << 20)).parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "forget", "latest")
    assert done.code == 0, done.stderr
    done = run_cli("-r", cli_repo, "--json", "prune")
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["young_unused_packs"] >= 1
    assert summary["young_unused_bytes"] >= 3 << 20
    assert summary["packs_marked"] == 0
    text = run_cli("-r", cli_repo, "prune")
    assert text.code == 0, text.stderr
    assert "no snapshot uses, kept while they are young" in text.stdout + text.stderr
