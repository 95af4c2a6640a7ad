"""The loop that reproduced issue 16's hang: on the TLS moto test server, back up a small tree
and run restore-test, restore and verify --read-data with --jobs 2, round after round, in the
damage campaign's long-lived CLI runner (tests/campaign/runner.py: many commands in one
process, as in the campaign where the hang was seen). A command that says nothing for
TIMEOUT seconds is taken as hung: py-spy (when installed: `pip install py-spy`) dumps the
runner and its workers, native frames included, and the runner is replaced.

    python bench/fork_hang_loop.py /tmp/fork-loop 60      # rounds; prints hangs at the end

Before the fix: 5 of 180 read commands hung (60 rounds; this script: 5 of 120 in 40), every
worker in CRYPTO_THREAD_write_lock under SSL_CTX_load_verify_locations. After: 0 of 480."""

from __future__ import annotations

import json
import logging
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.campaign.runner import CliWorker
from tests.s3server import _start, make_certificates, reset_and_create

REPO = "s3://backups/loop"


def dump(pid: int) -> None:
    """Every process's stacks (py-spy), the runner's and its children's."""
    spy = shutil.which("py-spy")
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True
    )
    for p in [str(pid), *children.stdout.split()]:
        if spy is None:
            print(f"==== pid {p}: install py-spy for its stacks", flush=True)
            continue
        out = subprocess.run(
            [spy, "dump", "--native", "--pid", p], check=False, capture_output=True, text=True
        )
        print(f"==== pid {p}\n{out.stdout}{out.stderr}", flush=True)


def main() -> None:
    base, rounds = Path(sys.argv[1]), int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    (base / "tls").mkdir(parents=True, exist_ok=True)
    ca, chain, key = make_certificates(base / "tls")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server, url = _start((chain, key))
    aws = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_CA_BUNDLE": str(ca),
    }
    os.environ.update(aws)
    reset_and_create(url)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(base),
        "S3VAULT_PASSWORD": "loop",
        "XDG_CACHE_HOME": str(base / "cache"),
        **aws,
    }
    worker = CliWorker(base / "runner.log")
    rng = random.Random(1)
    src = base / "src"
    for d in range(4):
        (src / f"d{d}").mkdir(parents=True, exist_ok=True)
        for f in range(10):
            (src / f"d{d}" / f"f{f}").write_bytes(rng.randbytes(20_000 + 7_000 * f))

    def run(*argv: str) -> bool:
        """False: the command hung."""
        proc = worker._start()
        assert proc.stdin is not None and proc.stdout is not None
        request = {"argv": ["-r", REPO, *argv], "env": env, "cwd": str(base)}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            print("HANG", argv, flush=True)
            dump(proc.pid)
            proc.kill()
            proc.wait()
            worker._proc = None
            return False
        reply = json.loads(proc.stdout.readline())
        if reply["code"] != 0:
            print("FAIL", argv, reply["code"], reply["stderr"][-500:], flush=True)
        return True

    run("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    hangs = commands = 0
    t0 = time.monotonic()
    for i in range(rounds):
        (src / "d0" / f"n{i}").write_bytes(rng.randbytes(30_000))
        run("backup", str(src))
        for argv in (
            ("restore-test", "--jobs", "2"),
            ("restore", "latest", "-t", str(base / f"t{i}"), "--jobs", "2"),
            ("verify", "--read-data", "--jobs", "2"),
        ):
            commands += 1
            hangs += not run(*argv)
        shutil.rmtree(base / f"t{i}", ignore_errors=True)
        print(f"round {i}: {hangs} hung of {commands}", flush=True)
    worker.close()
    server.stop()
    print(f"{hangs} of {commands} read commands hung ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
