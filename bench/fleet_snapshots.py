"""`make bench-fleet`: a fleet-sized repository on the S3 test server (issue 16).

Builds, on a moto server on loopback (plain http, its own process, its access log kept), two
repositories holding ``--snapshots`` snapshot files (default 30,000) of ``--hosts`` hosts
(default 1,000), saved directly through the library (a tiny tree shared by all, no real
backups):

- ``untagged``: the files named ``snapshots/<id>``, as every release before group tags wrote
  them (design.md §14);
- ``tagged``: the files named ``snapshots/<id>.<group tag>``, as they are written now.

Then, through the CLI (a process per command, its own cache each time), it times a new host's
first backup into each (``before``: the code of ``--before-ref``, default the branch point
``main``, into the untagged repository; ``after``: this checkout into the tagged one), and
``snapshots`` twice with one cache on the tagged one. Each command's GETs of ``snapshots/``
are counted in the server's access log. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault import BackupOptions, InitOptions, RepoOptions, backup, init, open_repository
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository, RepositorySettings
from s3vault.repository.snapshots import load_snapshot, save_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parent))
import motoserver

BUCKET = "fleet"
PASSWORD = "fleet bench"
ROOT = Path(__file__).resolve().parents[1]


def snapshot_gets(log: Path, start: int, prefix: str) -> tuple[int, int]:
    """(GETs of ``<prefix>/snapshots/`` objects, the log's end) from byte ``start`` on."""
    data = log.read_bytes()
    marker = f'"GET /{BUCKET}/{prefix}/snapshots/'.encode()
    return data[start:].count(marker), len(data)


def build(url: str, base: Path, snapshots: int, hosts: int, *, tagged: bool) -> None:
    """A repository with one tiny real backup and ``snapshots`` snapshot files of ``hosts``
    hosts pointing at its tree."""
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=base / "build-cache")
    init(options, InitOptions(settings=RepositorySettings(kdf_cost="minimum")))
    src = base / "seed"
    src.mkdir(exist_ok=True)
    (src / "file").write_bytes(b"seed\n")
    repo = open_repository(options)
    done = backup(repo, BackupOptions(paths=(str(src),), host="seed"))
    assert done.snapshot_id is not None
    tree = load_snapshot(repo, done.snapshot_id).tree
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def one(i: int) -> ObjectId:
        host, n = i % hosts, i // hosts
        snap = SnapshotFile(
            time=start + timedelta(days=n, seconds=host),
            tree=tree,
            paths=("/etc", "/srv"),
            hostname=f"host-{host:04d}",
            username="root",
        )
        return _save(repo, snap, tagged=tagged)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(snapshots)))
    print(f"  built {url}: {snapshots} snapshot files in {time.perf_counter() - t0:.0f} s")


def _save(repo: Repository, snap: SnapshotFile, *, tagged: bool) -> ObjectId:
    if tagged:
        return save_snapshot(repo, snap)
    return repo.save_file(ObjectKind.SNAPSHOTS, snap.encode())  # the name before group tags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--snapshots", type=int, default=30_000)
    ap.add_argument("--hosts", type=int, default=1_000)
    ap.add_argument("--before-ref", default="main", help="git ref of the code 'before'")
    ap.add_argument("--dir", default="/dev/shm/s3vault-bench-fleet")
    args = ap.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    log = base / "moto.log"
    moto, endpoint = motoserver.start(log)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("S3VAULT_")},
        "AWS_ACCESS_KEY_ID": "fleet",
        "AWS_SECRET_ACCESS_KEY": "fleet",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "S3VAULT_PASSWORD": PASSWORD,
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    # the code before: the source tree of --before-ref, unpacked outside the checkout
    before_src = base / "before"
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", args.before_ref, "src"], capture_output=True, check=True
    )
    before_src.mkdir()
    subprocess.run(["tar", "-x", "-C", str(before_src)], input=archive.stdout, check=True)
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        print(f"building {args.snapshots} snapshot files of {args.hosts} hosts, twice ...")
        build(f"s3://{BUCKET}/untagged", base, args.snapshots, args.hosts, tagged=False)
        build(f"s3://{BUCKET}/tagged", base, args.snapshots, args.hosts, tagged=True)
        new = base / "new-host"
        new.mkdir()
        (new / "file").write_bytes(os.urandom(4096))
        rows = []
        offset = log.stat().st_size

        def run(label: str, prefix: str, argv: list[str], cache: str, code: Path) -> None:
            nonlocal offset
            cmd = [sys.executable, "-m", "s3vault", "-r", f"s3://{BUCKET}/{prefix}", *argv]
            run_env = {**env, "XDG_CACHE_HOME": str(base / cache), "PYTHONPATH": str(code)}
            run_env["PYTHONDONTWRITEBYTECODE"] = "1"
            t0 = time.perf_counter()
            subprocess.run(cmd, env=run_env, check=True, capture_output=True)
            seconds = time.perf_counter() - t0
            gets, offset = snapshot_gets(log, offset, prefix)
            rows.append((label, gets, seconds))
            print(f"  {label:<52} {gets:>7} GETs of snapshots/ {seconds:>8.1f} s", flush=True)

        here = ROOT / "src"

        def first(n: int) -> list[str]:
            return ["backup", "--host", f"new-host-{n}", str(new), "-q"]

        print(f"load: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} cores)")
        old = before_src / "src"
        # alternating order: before, after, after, before; each a host the repository never saw
        run("new host's first backup, before (untagged, old code)", "untagged", first(1), "c1", old)
        run("new host's first backup, after (tagged, this code)", "tagged", first(2), "c2", here)
        run("another new host, after (tagged, this code)", "tagged", first(3), "c3", here)
        run("another new host, before (untagged, old code)", "untagged", first(4), "c4", old)
        run("this code, untagged repository (read as before)", "untagged", first(5), "c5", here)
        run("`snapshots`, first run (empty cache)", "tagged", ["snapshots", "-q"], "s1", here)
        run("`snapshots`, second run (same cache)", "tagged", ["snapshots", "-q"], "s1", here)
        print(f"load: {os.getloadavg()[0]:.2f}")
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
