"""`make bench`: s3vault and restic on the same corpus, in the same run, side by side.

Order per round is A B then B A (s3vault, restic, restic, s3vault for two rounds) and the best
time of each tool is kept, because these machines are shared and their disks slow down after a
burst of writes. Corpus, repositories, caches and restore targets live in tmpfs (/dev/shm) so
the comparison measures software, not the disk. Peak RSS is per process (wait4).

Steps: first backup; unchanged backup; 1 % of small files changed; a few bytes inserted at the
start of every large file (shift resistance: how much of them is stored again); full restore.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import motoserver
from corpus import (
    CorpusSpec,
    build,
    change_small_files,
    insert_at_start_of_large_files,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours some access-log lines
S3VAULT = str(Path(sys.executable).with_name("s3vault"))
PASSWORD = "benchmark password"
BUCKET = "bench"
STEPS = [
    "backup (first)",
    "backup (unchanged)",
    "backup (1% changed)",
    "backup (insert)",
    "restore",
    "verify --read-data",  # restic: check --read-data
    # restic has no drill: its comparable work is `restore --verify`, a restore that then reads
    # every restored file back and checks it against the snapshot, as restore-test proves
    # each file against its whole-file hash (plain `restore` before 2026-12-05: see
    # docs/performance.md)
    "restore-test",
]


def bytecode_env(base: Path) -> dict[str, str]:
    """Where s3vault's compiled modules are kept (see compile_s3vault)."""
    return {"PYTHONPYCACHEPREFIX": str(base / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}


def compile_s3vault(base: Path) -> None:
    """Byte-compile s3vault as an installation does (pip writes .pyc files): an editable
    install under PYTHONDONTWRITEBYTECODE would compile every module at every start, about
    0.15 s of each command here, which no installed s3vault pays."""
    import s3vault

    env = dict(os.environ, **bytecode_env(base))
    package = str(Path(s3vault.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], env=env, check=True)


@dataclass
class Run:
    seconds: float
    rss_mib: float
    stdout: str


def run_measured(argv: list[str], env: dict[str, str]) -> Run:
    """Like run(), but reaps the child itself so ru_maxrss is that one process's peak."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=devnull)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}")
    return Run(seconds, usage.ru_maxrss / 1024, out.decode())


def count_requests(log: Path, start: int, prefix: str) -> dict[str, int]:
    """HTTP requests in the access log after byte ``start`` that touch ``prefix``, by kind.
    Both tools reach moto path-style, so a line names the key or the listed prefix."""
    counts: dict[str, int] = {}
    with log.open("rb") as f:
        f.seek(start)
        for raw in f:
            line = ANSI.sub("", raw.decode(errors="replace"))
            if '"' not in line:
                continue
            if f"/{prefix}/" not in line and f"prefix={prefix}" not in line:
                continue
            method, target = line.split('"')[1].split(" ")[:2]
            kind = "LIST" if method == "GET" and "list-type=" in target else method
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class Tool:
    name: str
    base: Path
    results: dict[str, list[Run]] = field(default_factory=dict)
    repo_size: int = 0
    repo_objects: int = 0
    insert_added: int = 0
    s3_endpoint: str | None = None  # set: the repository lives in a bucket on this endpoint
    s3_log: Path | None = None  # the moto server's access log: one line per HTTP request
    round: int = 0
    first_requests: dict[str, int] = field(default_factory=dict)  # method → count, first backup

    @property
    def prefix(self) -> str:
        return f"{self.name}-round{self.round}"

    def measure_repo(self) -> tuple[int, int]:
        """(bytes, objects) stored in the repository."""
        if self.s3_endpoint is None:
            files = [p for p in self.repo.rglob("*") if p.is_file()]
            return sum(p.stat().st_size for p in files), len(files)
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        size = count = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=self.prefix + "/"
        ):
            for obj in page.get("Contents", []):
                size += obj["Size"]
                count += 1
        return size, count

    @property
    def repo(self) -> Path:
        return self.base / f"repo-{self.name}"

    @property
    def cache(self) -> Path:
        return self.base / f"cache-{self.name}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            S3VAULT_PASSWORD=PASSWORD, RESTIC_PASSWORD=PASSWORD, XDG_CACHE_HOME=str(self.cache)
        )
        env.update(bytecode_env(self.base))
        if self.s3_endpoint:
            env.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL=self.s3_endpoint,
            )
        return env

    def record(self, step: str, result: Run) -> None:
        self.results.setdefault(step, []).append(result)


class S3vault(Tool):
    @property
    def url(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}" if self.s3_endpoint else str(self.repo)

    def init(self) -> None:
        run_measured([S3VAULT, "-r", self.url, "init", "-q"], self.env())

    def backup(self, path: Path) -> tuple[Run, int]:
        r = run_measured([S3VAULT, "-r", self.url, "backup", str(path), "--json"], self.env())
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        return r, int(summary["data_added"])

    def restore(self, target: Path) -> Run:
        return run_measured(
            [S3VAULT, "-r", self.url, "restore", "latest", "-t", str(target), "-q"],
            self.env(),
        )

    def check_read_data(self) -> Run:
        return run_measured([S3VAULT, "-r", self.url, "verify", "--read-data", "-q"], self.env())

    def drill(self, target: Path) -> Run:
        return run_measured(
            [S3VAULT, "-r", self.url, "restore-test", "--target", str(target), "-q"],
            self.env(),
        )


class Restic(Tool):
    @property
    def url(self) -> str:
        if self.s3_endpoint:
            return f"s3:{self.s3_endpoint}/{BUCKET}/{self.prefix}"
        return str(self.repo)

    def _base(self) -> list[str]:
        return ["restic", "-r", self.url, "--cache-dir", str(self.cache)]

    def init(self) -> None:
        run_measured([*self._base(), "init", "-q"], self.env())

    def backup(self, path: Path) -> tuple[Run, int]:
        r = run_measured([*self._base(), "backup", str(path), "--json"], self.env())
        summary = [json.loads(x) for x in r.stdout.splitlines() if '"summary"' in x][-1]
        return r, int(summary["data_added"])

    def restore(self, target: Path) -> Run:
        return run_measured(
            [*self._base(), "restore", "latest", "--target", str(target), "-q"], self.env()
        )

    def check_read_data(self) -> Run:
        return run_measured([*self._base(), "check", "--read-data", "-q"], self.env())

    def drill(self, target: Path) -> Run:
        return run_measured(
            [*self._base(), "restore", "latest", "--target", str(target), "--verify", "-q"],
            self.env(),
        )


def one_round(tool: Tool, corpus: Path, work: Path) -> None:
    print(f"  {tool.name} ...", flush=True)
    for path in (tool.repo, tool.cache, work, tool.base / "restore"):
        shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(corpus, work, symlinks=True)
    tool.init()
    mark = tool.s3_log.stat().st_size if tool.s3_log else 0
    r, _ = tool.backup(work)
    tool.record(STEPS[0], r)
    if tool.s3_log:
        time.sleep(0.5)  # let the server flush its log
        tool.first_requests = count_requests(tool.s3_log, mark, tool.prefix)
    tool.repo_size, tool.repo_objects = tool.measure_repo()
    r, _ = tool.backup(work)
    tool.record(STEPS[1], r)
    change_small_files(work, 0.01, seed=1)
    r, _ = tool.backup(work)
    tool.record(STEPS[2], r)
    large = insert_at_start_of_large_files(work, seed=2)
    r, added = tool.backup(work)
    tool.record(STEPS[3], r)
    tool.insert_added = added
    tool.large_bytes = large  # type: ignore[attr-defined]
    tool.record(STEPS[4], tool.restore(tool.base / "restore"))
    shutil.rmtree(tool.base / "restore", ignore_errors=True)
    tool.record(STEPS[5], tool.check_read_data())
    tool.record(STEPS[6], tool.drill(tool.base / "restore"))
    shutil.rmtree(tool.base / "restore", ignore_errors=True)


def table(tools: list[Tool], corpus_bytes: int) -> str:
    mb = corpus_bytes / 1e6
    s3v = tools[0]
    other = tools[1] if len(tools) > 1 else None
    rows = [
        f"corpus: {mb:.0f} MB, {len(tools)} tool(s); best of {len(s3v.results[STEPS[0]])} "
        "run(s) each; times in seconds; RSS = peak resident set of the process"
    ]
    head = f"{'step':22} {'s3vault s':>10} {'MB/s':>8} {'RSS MiB':>8}"
    if other:
        head += f" {'restic s':>10} {'MB/s':>8} {'RSS MiB':>8} {'speed ×':>8} {'RSS ratio':>9}"
    rows.append(head)
    for step in STEPS:
        a = min(s3v.results[step], key=lambda r: r.seconds)
        a_rss = max(r.rss_mib for r in s3v.results[step])
        line = f"{step:22} {a.seconds:10.2f} {mb / a.seconds:8.0f} {a_rss:8.0f}"
        if other:
            b = min(other.results[step], key=lambda r: r.seconds)
            b_rss = max(r.rss_mib for r in other.results[step])
            line += (
                f" {b.seconds:10.2f} {mb / b.seconds:8.0f} {b_rss:8.0f}"
                f" {b.seconds / a.seconds:8.2f} {a_rss / b_rss:9.2f}"
            )
        rows.append(line)
    rows.append("")
    for t in tools:
        rows.append(
            f"{t.name:8} objects after first backup: {t.repo_objects} "
            f"({t.repo_objects / (t.repo_size / 1e9):.0f} per GB stored)"
        )
        if t.first_requests:
            gb = t.repo_size / 1e9
            per_gb = ", ".join(
                f"{k} {v} ({v / gb:.0f}/GB)" for k, v in sorted(t.first_requests.items())
            )
            rows.append(f"{t.name:8} HTTP requests in the first backup: {per_gb}")
        share = 100 * t.insert_added / t.large_bytes  # type: ignore[attr-defined]
        rows.append(
            f"{t.name:8} repository after first backup: {t.repo_size / 1e6:8.1f} MB; "
            f"insert at start of large files stored {t.insert_added / 1e6:6.1f} MB "
            f"= {share:.2f}% of them again"
        )
    if other:
        rows.append(f"repository size ratio s3vault/restic: {s3v.repo_size / other.repo_size:.3f}")
    rows.append(
        "speed × = restic time / s3vault time (>1: s3vault faster); "
        "RSS ratio = s3vault / restic (<1: s3vault smaller)"
    )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="/dev/shm/s3vault-bench", help="work directory (tmpfs)")
    ap.add_argument("--scale", type=float, default=1.0, help="corpus size factor (1.0 ≈ 1.5 GB)")
    ap.add_argument("--rounds", type=int, default=2, help="A B B A rounds (1 = A B)")
    ap.add_argument("--no-restic", action="store_true")
    ap.add_argument(
        "--s3", action="store_true", help="repositories in a bucket on a moto server on 127.0.0.1"
    )
    args = ap.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    corpus = base / "corpus"
    print(f"building corpus in {corpus} ...", flush=True)
    corpus_bytes = build(corpus, CorpusSpec.scaled(args.scale))
    compile_s3vault(base)
    tools: list[Tool] = [S3vault("s3vault", base)]
    if not args.no_restic and shutil.which("restic"):
        tools.append(Restic("restic", base))
    elif not args.no_restic:
        print("restic not on PATH (apt-get install -y restic): s3vault only")
    if args.s3:
        # moto in its own process (bench/motoserver.py): a forked tool would otherwise inherit
        # the driver's resident-set high-water mark (moto keeps every object in memory), and
        # moto's CPU would be billed to nobody in particular.
        s3_log = base / "moto-access.log"
        moto, endpoint = motoserver.start(s3_log)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=BUCKET)
        for tool in tools:
            tool.s3_endpoint = endpoint
            tool.s3_log = s3_log
        print(f"S3: moto server at {endpoint}", flush=True)
    work = base / "work"
    for n in range(args.rounds):
        order = tools if n % 2 == 0 else list(reversed(tools))
        print(f"round {n + 1}: {' then '.join(t.name for t in order)}", flush=True)
        for tool in order:
            tool.round = n
            one_round(tool, corpus, work)
    if args.s3:
        moto.terminate()
    text = table(tools, corpus_bytes)
    print("\n" + text)
    out = Path("bench-out")
    out.mkdir(exist_ok=True)
    (out / ("results-s3.txt" if args.s3 else "results.txt")).write_text(text + "\n")


if __name__ == "__main__":
    main()
