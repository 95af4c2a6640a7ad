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


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its workers, user + system)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return seconds, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/s3vault-read-jobs"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="N, compared with 1")
    parser.add_argument(
        "--all-cores-only", action="store_true", help="leave out the 1-core run (pairs only)"
    )
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
    configs = (("0", 1), (cores, 1), (cores, args.jobs))[1 if args.all_cores_only else 0 :]
    env = {**os.environ, "S3VAULT_PASSWORD": "bench", "XDG_CACHE_HOME": str(cache)}
    times: dict[tuple[str, int], dict[str, list[float]]] = {
        c: {s: [] for s in STEPS} for c in configs
    }
    cpu_times: dict[tuple[str, int], dict[str, list[float]]] = {
        c: {s: [] for s in STEPS} for c in configs
    }
    for r in range(args.rounds):
        for cpus, jobs in configs if r % 2 == 0 else configs[::-1]:
            for path in (repo, cache, out):
                shutil.rmtree(path, ignore_errors=True)
            init = [S3VAULT, "-r", str(repo), "init", "--kdf-cost", "minimum", "--no-recovery-key"]
            subprocess.run(init, env=env, check=True, capture_output=True)
            for step, argv in steps(repo, src, out, jobs):
                seconds, cpu = run_timed(["taskset", "-c", cpus, *argv], env)
                times[(cpus, jobs)][step].append(seconds)
                cpu_times[(cpus, jobs)][step].append(cpu)
            load = os.getloadavg()[0]
            print(
                f"round {r} cpus {cpus} --jobs {jobs}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times[(cpus, jobs)].items())
                + f" (load {load:.2f}; CPU "
                + ", ".join(f"{v[-1]:.1f}" for v in cpu_times[(cpus, jobs)].values())
                + ")",
                flush=True,
            )
    for (cpus, jobs), by_step in times.items():
        medians = ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in by_step.items())
        print(f"cpus {cpus} --jobs {jobs}: medians {medians}")
    for (cpus, jobs), by_step in cpu_times.items():
        medians = ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in by_step.items())
        print(f"cpus {cpus} --jobs {jobs}: CPU time (user + system, all processes) {medians}")
    one, many = times[(cores, 1)], times[(cores, args.jobs)]
    ratios = ", ".join(
        f"{k} {statistics.median(a / b for a, b in zip(one[k], many[k], strict=True)):.2f}x"
        for k in STEPS
    )
    print(f"--jobs 1 time / --jobs {args.jobs} time, median of the rounds' ratios: {ratios}")


if __name__ == "__main__":
    main()
