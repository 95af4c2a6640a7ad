"""--jobs 1 against --jobs N for every step that takes it (backup first and unchanged, restore,
verify --read-data, restore-test), on 1 core and on all (taskset), on a generated corpus in
/dev/shm: rounds in alternating order, medians, the load average beside each round. The figures
in docs/performance.md ("Process-parallel restore and read-back") and the defaults of --jobs
come from `python bench/read_jobs.py`."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CorpusSpec, build

S3VAULT = str(Path(sys.executable).with_name("s3vault"))
STEPS = ("backup first", "backup unchanged", "restore", "verify --read-data", "restore-test")


def steps(repo: Path, src: Path, out: Path, jobs: int) -> list[tuple[str, list[str]]]:
    j = ("--jobs", str(jobs))
    base = [S3VAULT, "-r", str(repo), "-q"]
    return [
        ("backup first", [*base, "backup", *j, str(src)]),
        ("backup unchanged", [*base, "backup", *j, str(src)]),
        ("restore", [*base, "restore", "latest", "-t", str(out / "restore"), *j]),
        ("verify --read-data", [*base, "verify", "--read-data", *j]),
        ("restore-test", [*base, "restore-test", "--no-record", "-t", str(out / "drill"), *j]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/s3vault-read-jobs"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="N, compared with 1")
    args = parser.parse_args()
    src, repo, cache, out = (args.dir / n for n in ("corpus", "repo", "cache", "out"))
    spec = CorpusSpec(
        small_files=19_500,
        medium_files=40,
        large_random=3,
        large_size=30 << 20,
        repeated_size=64 << 20,
    )
    size = build(src, spec)
    print(f"corpus: {sum(len(f) for _, _, f in os.walk(src))} files, {size / 2**20:.0f} MiB")
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    configs = (("0", 1), (cores, 1), (cores, args.jobs))
    env = {**os.environ, "S3VAULT_PASSWORD": "bench", "XDG_CACHE_HOME": str(cache)}
    times: dict[tuple[str, int], dict[str, list[float]]] = {
        c: {s: [] for s in STEPS} for c in configs
    }
    for r in range(args.rounds):
        for cpus, jobs in configs if r % 2 == 0 else configs[::-1]:
            for path in (repo, cache, out):
                shutil.rmtree(path, ignore_errors=True)
            init = [S3VAULT, "-r", str(repo), "init", "--kdf-cost", "minimum", "--no-recovery-key"]
            subprocess.run(init, env=env, check=True, capture_output=True)
            for step, argv in steps(repo, src, out, jobs):
                t0 = time.perf_counter()
                subprocess.run(["taskset", "-c", cpus, *argv], env=env, check=True)
                times[(cpus, jobs)][step].append(time.perf_counter() - t0)
            load = os.getloadavg()[0]
            print(
                f"round {r} cpus {cpus} --jobs {jobs}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times[(cpus, jobs)].items())
                + f" (load {load:.2f})",
                flush=True,
            )
    for (cpus, jobs), by_step in times.items():
        medians = ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in by_step.items())
        print(f"cpus {cpus} --jobs {jobs}: medians {medians}")


if __name__ == "__main__":
    main()
