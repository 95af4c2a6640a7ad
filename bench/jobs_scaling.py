"""backup --jobs from 1 to 2 cores (taskset) on a generated corpus in /dev/shm: first and
unchanged backup, rounds in alternating order, medians. The figures in docs/performance.md
("Process-parallel backup") come from `python bench/jobs_scaling.py`."""

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
CONFIGS = (("0", 1), ("0,1", 1), ("0,1", 2))  # (taskset cpus, --jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/s3vault-jobs"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    src, repo, cache = args.dir / "corpus", args.dir / "repo", args.dir / "cache"
    spec = CorpusSpec(
        small_files=19_500,
        medium_files=40,
        large_random=3,
        large_size=30 << 20,
        repeated_size=64 << 20,
    )
    size = build(src, spec)
    print(f"corpus: {sum(len(f) for _, _, f in os.walk(src))} files, {size / 2**20:.0f} MiB")
    env = {**os.environ, "S3VAULT_PASSWORD": "bench", "XDG_CACHE_HOME": str(cache)}
    times: dict[tuple[str, int], dict[str, list[float]]] = {
        c: {"first": [], "unchanged": []} for c in CONFIGS
    }
    for r in range(args.rounds):
        for cpus, jobs in CONFIGS if r % 2 == 0 else CONFIGS[::-1]:
            shutil.rmtree(repo, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            init = [S3VAULT, "-r", str(repo), "init", "--kdf-cost", "minimum", "--no-recovery-key"]
            subprocess.run(init, env=env, check=True, capture_output=True)
            for step in ("first", "unchanged"):
                command = ["taskset", "-c", cpus, S3VAULT, "-r", str(repo), "backup"]
                t0 = time.perf_counter()
                subprocess.run(
                    [*command, "--jobs", str(jobs), str(src)],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                times[(cpus, jobs)][step].append(time.perf_counter() - t0)
            load = os.getloadavg()[0]
            print(
                f"round {r} cpus {cpus} --jobs {jobs}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times[(cpus, jobs)].items())
                + f" (load {load:.2f})"
            )
    for (cpus, jobs), steps in times.items():
        medians = ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in steps.items())
        print(f"cpus {cpus} --jobs {jobs}: medians {medians}")


if __name__ == "__main__":
    main()
