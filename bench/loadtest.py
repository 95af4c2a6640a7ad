"""`make loadtest`: many clients, one S3 repository (a moto server on loopback), prune beside.

Part 1: N backup *processes* (default 50), each backing up its own tree (unique files plus a
share of files common to every host) ``--cycles`` times, while a ``forget --prune`` loop runs
beside them and a second one races it for the lease.
Part 2: ``--logical`` clients (default 1,000) driven through the library API from one process
(a thread pool), each one host backing up its own small tree.

Reports backups per minute, p50/p99 backup time, lease waits (exit 11 of the racing pruner and
the time the winner waited), the cross-host dedup ratio (bytes backed up / bytes stored), peak
memory of a backup process and of the logical-client driver, and lost snapshots (every
completed backup whose snapshot is missing or fails to verify; must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import motoserver

S3VAULT = str(Path(sys.executable).with_name("s3vault"))
BUCKET = "load"
PASSWORD = "load test"


def make_tree(root: Path, host: int, cycle: int, shared: list[bytes], size: int) -> int:
    """A host's tree: the shared files plus its own (a few change every cycle)."""
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, data in enumerate(shared):
        (root / f"shared{i}").write_bytes(data)
        total += len(data)
    for i in range(4):
        seed = host * 1000 + i + (cycle * 1_000_000 if i == 0 else 0)
        data = random.Random(seed).randbytes(size)
        (root / f"own{i}").write_bytes(data)
        total += len(data)
    return total


def run_backup(argv: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak RSS MiB, stdout) of one process (reaped here: wait4 gives
    that one process's peak)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024, out.decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--processes", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=10, help="backup processes at once")
    ap.add_argument("--logical", type=int, default=1000)
    ap.add_argument("--file-size", type=int, default=256 << 10)
    ap.add_argument("--dir", default="/dev/shm/s3vault-loadtest")
    args = ap.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    moto, endpoint = motoserver.start()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "load",
        "AWS_SECRET_ACCESS_KEY": "load",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "S3VAULT_PASSWORD": PASSWORD,
        "XDG_CACHE_HOME": str(base / "cache"),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/fleet"
    init = [S3VAULT, "-r", url, "init", "--kdf-cost", "minimum", "--min-grace", "10s", "-q"]
    subprocess.run(init, env=env, check=True)
    shared = [random.Random(i).randbytes(args.file_size) for i in range(2)]  # ≈ 1/3 shared

    # Part 1: processes -------------------------------------------------------------------
    durations: list[float] = []
    rss: list[float] = []
    completed: list[str] = []
    failures: list[str] = []
    processed = 0
    lock = threading.Lock()
    stop = threading.Event()
    prune_codes: list[int] = []
    lease_waited: list[float] = []

    def one_host(h: int) -> None:
        nonlocal processed
        src = base / "src" / f"h{h}"
        host_env = {**env, "XDG_CACHE_HOME": str(base / "cache" / f"h{h}")}
        for cycle in range(args.cycles):
            size = make_tree(src, h, cycle, shared, args.file_size)
            argv = [S3VAULT, "-r", url, "backup", str(src), "--host", f"h{h}", "--json"]
            code, seconds, peak, out = run_backup(argv, host_env)
            with lock:
                if code == 0:
                    completed.append(json.loads(out.splitlines()[-1])["snapshot_id"])
                    durations.append(seconds)
                    rss.append(peak)
                    processed += size
                else:
                    failures.append(f"h{h} cycle {cycle}: exit {code}")

    def pruner(n: int) -> None:
        prune_env = {**env, "XDG_CACHE_HOME": str(base / "cache" / f"p{n}")}
        argv = [
            S3VAULT,
            "-r",
            url,
            "forget",
            "--keep-last",
            "2",
            "--prune",
            "--grace",
            "10s",
            "--json",
        ]
        while not stop.is_set():
            p = subprocess.run(argv, env=prune_env, capture_output=True, check=False)
            with lock:
                prune_codes.append(p.returncode)
                if p.returncode == 0:
                    lease_waited.append(json.loads(p.stdout.splitlines()[-1])["lease_waited"])
            time.sleep(1)

    print(
        f"part 1: {args.processes} processes x {args.cycles} backups into {url} on moto", flush=True
    )
    pruners = [threading.Thread(target=pruner, args=(n,)) for n in range(2)]
    for t in pruners:
        t.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(one_host, range(args.processes)))
    wall = time.perf_counter() - t0

    # Part 2: logical clients through the library -------------------------------------------
    from s3vault import BackupOptions, RepoOptions, backup, open_repository

    logical_durations: list[float] = []
    logical_done: list[str] = []

    def logical(c: int) -> None:
        src = base / "logical" / f"c{c}"
        src.mkdir(parents=True, exist_ok=True)
        (src / "own").write_bytes(random.Random(10_000_000 + c).randbytes(16 << 10))
        (src / "shared").write_bytes(shared[0][: 16 << 10])
        start = time.perf_counter()
        repo = open_repository(  # one machine, one cache, many logical hosts
            RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=base / "logical-cache"),
            load_index=False,
        )
        r = backup(repo, BackupOptions(paths=(str(src),), host=f"logical{c}"))
        with lock:
            logical_durations.append(time.perf_counter() - start)
            if r.snapshot_id is not None:
                logical_done.append(r.snapshot_id.hex())

    print(f"part 2: {args.logical} logical clients through the library API", flush=True)
    t1 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(logical, range(args.logical)))
    logical_wall = time.perf_counter() - t1
    stop.set()  # the pruners ran beside both parts (and keep the index files consolidated)
    for t in pruners:
        t.join()
    driver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Lost snapshots: every completed backup that forget did not remove must be there, and
    # the repository must verify.
    listing = subprocess.run(
        [S3VAULT, "-r", url, "snapshots", "--json"], env=env, capture_output=True, check=True
    )
    present = {s["id"] for s in json.loads(listing.stdout)}
    per_host_kept = min(args.cycles, 2)  # forget --keep-last 2 per host
    expected_present = per_host_kept * args.processes + len(logical_done)
    lost = len(set(logical_done) - present) + max(0, expected_present - len(present))
    verify = subprocess.run(
        [S3VAULT, "-r", url, "verify", "--read-data", "--json"],
        env=env,
        capture_output=True,
        check=False,
    )
    stored = int(
        subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "import boto3;c=boto3.client('s3');p=c.get_paginator('list_objects_v2');"
                    f"print(sum(o['Size'] for pg in p.paginate(Bucket='{BUCKET}') "
                    "for o in pg.get('Contents',[])))"
                ),
            ],
            env=env,
            capture_output=True,
            check=True,
        ).stdout
    )
    moto.terminate()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]

    lines = [
        f"part 1: {len(completed)} backups by {args.processes} processes in {wall:.1f}s "
        f"({60 * len(completed) / wall:.0f} backups/minute, {args.parallel} at a time); "
        f"failures: {len(failures)}",
        f"  backup time p50 {pct(durations, 50):.2f}s, p99 {pct(durations, 99):.2f}s; "
        f"peak RSS per backup process p50 {pct(rss, 50):.0f} MiB, max {max(rss):.0f} MiB",
        f"  pruners: {prune_codes.count(0)} prunes done, {prune_codes.count(11)} refused with "
        f"exit 11 (lease held), other exits {[c for c in prune_codes if c not in (0, 11)]}; "
        f"lease wait max {max(lease_waited, default=0):.2f}s",
        f"part 2: {len(logical_done)} of {args.logical} logical clients in {logical_wall:.1f}s "
        f"({60 * len(logical_done) / logical_wall:.0f} backups/minute), p50 "
        f"{pct(logical_durations, 50):.2f}s, p99 {pct(logical_durations, 99):.2f}s; driver "
        f"peak RSS {driver_rss:.0f} MiB",
        f"cross-host dedup: {processed / 1e6:.1f} MB backed up by the processes, "
        f"{stored / 1e6:.1f} MB stored in total ({processed / max(1, stored):.2f}x)",
        f"snapshots present {len(present)} (expected {expected_present}); lost snapshots: "
        f"{lost}; verify --read-data exit {verify.returncode}",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    out = Path("bench-out")
    out.mkdir(exist_ok=True)
    (out / "loadtest.txt").write_text(text + "\n")
    if lost or verify.returncode or failures or set(prune_codes) - {0, 11}:
        sys.exit(1)


if __name__ == "__main__":
    main()
