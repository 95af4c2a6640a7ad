"""`make bench-scaling`: s3vault and restic from 1 core to 2 (`taskset`), same corpus, same run.

For each core set (default `taskset -c 0`, then `taskset -c 0,1`) and each tool: a fresh
repository (init not timed, default settings of both tools), the first backup, an unchanged
backup and a full restore into an empty target, each under `taskset`. Rounds alternate the
order of core sets and tools; each figure is the best of the rounds. The CPU column is user +
system of the command and every process it waited for (``wait4``), which the machine's load
distorts much less than the wall time.

Then the model of docs/performance.md ("Scaling with cores"): with T1 and T2 the times on 1
and 2 cores, a serial part S = 2·T2 − T1 and a parallel part P = 2·(T1 − T2) give
T(n) = S + P/n, projected to 8 and 16 cores.

``--trace`` adds, for s3vault, a timeline of every process (bench/cpu_trace.py, loaded as
``sitecustomize``): the parent's and each worker's CPU, the head (from the command's start
until the first worker starts its first task: imports, key derivation, index load, plan), the
tail (from the last worker's end to the command's end: commit, index save) and the parent's
CPU while the workers run, and a second table: the speed-up those CPU times allow on idle
cores (T2 = S + (W + V)/2) and T(n) = S + max((W + V)/n, V) for 8 and 16 cores. CPU times move
much less with the machine's load than wall times, though not nothing (a restore's workers
took 2.6 to 6.0 s of CPU for the same work at load 4 to 7).

Run it on an idle machine to get the figures of the issue: the load average is printed with
each round, so a loaded run shows as one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import bytecode_env, compile_s3vault
from corpus import CorpusSpec, build

S3VAULT = str(Path(sys.executable).with_name("s3vault"))
PASSWORD = "benchmark password"
STEPS = ("backup (first)", "backup (unchanged)", "restore")
TRACE = Path(__file__).resolve().parent / "cpu_trace.py"
SERVING = ("ParallelArchiver._serve", "WorkerPool.run")  # the parent while workers run


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mib: float
    trace: str = ""


def timed(argv: list[str], env: dict[str, str], trace: Path | None) -> Run:
    """Run a command to its end; its wall time, the CPU of it and its waited-for children,
    its peak RSS; with ``trace``, the timeline its processes wrote."""
    env = dict(env)
    if trace is not None:
        trace.unlink(missing_ok=True)
        env["S3VAULT_CPU_TRACE"] = str(trace)
    t0 = time.monotonic()
    env["S3VAULT_CPU_T0"] = repr(t0)
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, env=env, stdout=devnull, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        sys.exit(f"command failed ({code}): {' '.join(argv)}\n{err.decode(errors='replace')}")
    text = trace.read_text() if trace is not None and trace.exists() else ""
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text)


class Tool:
    def __init__(self, name: str, base: Path) -> None:
        self.name, self.base = name, base
        self.repo, self.cache, self.target = base / "repo", base / "cache", base / "restore"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, S3VAULT_PASSWORD=PASSWORD, RESTIC_PASSWORD=PASSWORD)
        env["XDG_CACHE_HOME"] = str(self.cache)
        return env

    def fresh(self) -> None:
        for path in (self.repo, self.cache, self.target):
            shutil.rmtree(path, ignore_errors=True)
        subprocess.run(self.init_argv(), env=self.env(), check=True, capture_output=True)

    def init_argv(self) -> list[str]:
        raise NotImplementedError

    def argv(self, step: str, src: Path) -> list[str]:
        raise NotImplementedError


class S3vault(Tool):
    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(bytecode_env(self.base.parent))
        return env

    def init_argv(self) -> list[str]:
        return [S3VAULT, "-r", str(self.repo), "init", "-q"]

    def argv(self, step: str, src: Path) -> list[str]:
        if step == "restore":
            return [S3VAULT, "-r", str(self.repo), "restore", "latest", "-t", str(self.target)]
        return [S3VAULT, "-r", str(self.repo), "backup", str(src), "--json"]


class Restic(Tool):
    def _base(self) -> list[str]:
        return ["restic", "-r", str(self.repo), "--cache-dir", str(self.cache)]

    def init_argv(self) -> list[str]:
        return [*self._base(), "init"]

    def argv(self, step: str, src: Path) -> list[str]:
        if step == "restore":
            return [*self._base(), "restore", "latest", "--target", str(self.target), "-q"]
        return [*self._base(), "backup", str(src), "--json"]


# The timeline of one traced command (bench/cpu_trace.py) -----------------------------------


@dataclass
class Structure:
    head: float  # start → first worker's first task (no worker: the whole run)
    tail: float  # last worker's end → the command's end
    parent_cpu: float
    parent_cpu_between: float  # the parent's CPU while workers run
    workers_cpu: list[float]
    steps: dict[str, float]  # the parent's named steps (wall seconds)


def structure(trace: str) -> Structure | None:
    """What the timeline says; None when the command wrote none."""
    events: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for line in trace.splitlines():
        pid, wall, cpu, event = line.split(maxsplit=3)
        events[int(pid)].append((float(wall), float(cpu), event))
    parents = [p for p, evs in events.items() if evs[0][2] == "start"]
    if not parents:
        return None
    parent = events[parents[0]]
    workers = [evs for p, evs in events.items() if p != parents[0]]
    end_wall, end_cpu = parent[-1][0], parent[-1][1]
    firsts = [w for evs in workers for w, _, e in evs if e == "task1"]
    exits = [(w, c) for evs in workers for w, c, e in evs if e == "exit"]
    head = min(firsts) if firsts else end_wall
    last = max((w for w, _ in exits), default=end_wall)

    between = 0.0  # the parent's CPU inside the steps that serve the workers
    since: dict[str, float] = {}
    for _, c, e in parent:
        name = e[2:]
        if name in SERVING and e.startswith("> "):
            since[name] = c
        elif name in SERVING and e.startswith("< ") and name in since:
            between += c - since.pop(name)

    steps: dict[str, float] = {}
    opened: dict[str, float] = {}
    for w, _, e in parent:
        if e.startswith("> "):
            opened[e[2:]] = w
        elif e.startswith("< ") and e[2:] in opened:
            steps[e[2:]] = steps.get(e[2:], 0.0) + w - opened.pop(e[2:])
    steps["imports (start → first step)"] = parent[1][0] if len(parent) > 1 else 0.0
    return Structure(
        head=head,
        tail=end_wall - last,
        parent_cpu=end_cpu,
        parent_cpu_between=between,
        workers_cpu=sorted((c for _, c in exits), reverse=True),
        steps=steps,
    )


# The run --------------------------------------------------------------------------------


def one_round(
    tools: list[Tool], cores: list[str], src: Path, r: int, trace: bool
) -> dict[tuple[str, str, str], Run]:
    out = {}
    order = [(c, t) for c in cores for t in tools]
    if r % 2:
        order.reverse()
    for cpus, tool in order:
        tool.fresh()
        for step in STEPS:
            log = tool.base / "trace.log" if trace and isinstance(tool, S3vault) else None
            argv = ["taskset", "-c", cpus, *tool.argv(step, src)]
            run = timed(argv, tool.env(), log)
            out[(tool.name, cpus, step)] = run
        load = os.getloadavg()
        print(
            f"round {r} {tool.name:7} cpus {cpus:4}: "
            + ", ".join(f"{s} {out[(tool.name, cpus, s)].wall:.2f}s" for s in STEPS)
            + f"  (load {load[0]:.2f} {load[1]:.2f})",
            flush=True,
        )
        if trace and isinstance(tool, S3vault):
            for step in STEPS:
                show_structure(step, cpus, out[(tool.name, cpus, step)])
    return out


def show_structure(step: str, cpus: str, run: Run) -> None:
    s = structure(run.trace)
    if s is None:
        return
    workers = " + ".join(f"{c:.2f}" for c in s.workers_cpu) or "none"
    steps = ", ".join(f"{k} {v:.3f}" for k, v in s.steps.items() if v >= 0.005)
    print(
        f"    {step:19} cpus {cpus:4} wall {run.wall:.2f} cpu {run.cpu:.2f}: head {s.head:.3f} s, "
        f"tail {s.tail:.3f} s; parent cpu {s.parent_cpu:.2f} s ({s.parent_cpu_between:.2f} s "
        f"while workers run), workers cpu {workers}\n      parent steps (wall s): {steps}"
    )


def fit(t1: float, t2: float) -> tuple[float, float]:
    """(serial, parallel) seconds of T(n) = S + P/n through T(1) = t1 and T(2) = t2."""
    return 2 * t2 - t1, 2 * (t1 - t2)


def report(best: dict[tuple[str, str, str], Run], tools: list[Tool], cores: list[str]) -> None:
    one, two = cores[0], cores[-1]
    print(f"\nbest of the rounds; speed-up = time on cpus {one} / time on cpus {two}")
    head = "| step | tool | wall 1 | wall 2 | speed-up | CPU 1 | CPU 2 | S | P | T(8) | T(16) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for step in STEPS:
        for tool in tools:
            a, b = best[(tool.name, one, step)], best[(tool.name, two, step)]
            s, p = fit(a.wall, b.wall)
            t8, t16 = s + p / 8, s + p / 16
            print(
                f"| {step} | {tool.name} | {a.wall:.2f} s | {b.wall:.2f} s "
                f"| {a.wall / b.wall:.2f}× "
                f"| {a.cpu:.2f} s | {b.cpu:.2f} s | {s:.2f} s | {p:.2f} s "
                f"| {t8:.2f} s ({a.wall / t8:.1f}×) | {t16:.2f} s ({a.wall / t16:.1f}×) |"
            )


def cpu_model(every: dict[tuple[str, str, str], list[Run]], cores: list[str]) -> None:
    """s3vault's speed-up as its CPU accounting says it would be on idle cores (medians of the
    rounds): T1 = the CPU of the one-core run (one process, no waits on tmpfs); on two cores
    the parent alone (S: its CPU outside serving the workers) and then the workers' and the
    parent's serving CPU shared by the cores; T(n) = S + max(parallel CPU / n, serving CPU)
    (the parent serves on one core)."""
    one, two = cores[0], cores[-1]
    print("\ns3vault by CPU accounting (medians of the rounds; load-independent estimate)")
    head = (
        "| step | T1 = CPU on 1 core | S (parent alone) | workers CPU | serving CPU "
        "| T2 est. | speed-up est. | CPU overhead | 8 cores | 16 cores |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for step in STEPS:
        t1 = statistics.median(r.cpu for r in every[("s3vault", one, step)])
        found = [structure(r.trace) for r in every[("s3vault", two, step)]]
        shapes = [f for f in found if f is not None and f.workers_cpu]
        if not shapes:
            continue
        serving = statistics.median(f.parent_cpu_between for f in shapes)
        serial = statistics.median(f.parent_cpu - f.parent_cpu_between for f in shapes)
        workers = statistics.median(sum(f.workers_cpu) for f in shapes)
        parallel = workers + serving

        def t(n: int, s: float = serial, p: float = parallel, v: float = serving) -> float:
            return s + max(p / n, v)

        print(
            f"| {step} | {t1:.2f} s | {serial:.2f} s | {workers:.2f} s | {serving:.2f} s "
            f"| {t(2):.2f} s | {t1 / t(2):.2f}× | {parallel / max(t1 - serial, 1e-9):.2f}× "
            f"| {t(8):.2f} s ({t1 / t(8):.1f}×) | {t(16):.2f} s ({t1 / t(16):.1f}×) |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm/s3vault-scaling"))
    ap.add_argument("--scale", type=float, default=0.22, help="corpus size (1.0 ≈ 1.4 GB)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cores", nargs="+", default=["0", "0,1"], help="taskset CPU lists")
    ap.add_argument("--no-restic", action="store_true")
    ap.add_argument("--trace", action="store_true", help="s3vault's per-process timeline")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    src = args.dir / "corpus"
    size = build(src, CorpusSpec.scaled(args.scale))
    files = sum(len(f) for _, _, f in os.walk(src))
    print(f"corpus: {files} files, {size / 2**20:.0f} MiB in {src}")
    compile_s3vault(args.dir)
    if args.trace:  # loaded at interpreter start by every s3vault process (PYTHONPATH)
        site = args.dir / "site"
        site.mkdir(exist_ok=True)
        shutil.copy(TRACE, site / "sitecustomize.py")
        shutil.copy(TRACE.with_name("stephooks.py"), site / "stephooks.py")  # what it imports
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p
        )
    tools: list[Tool] = [S3vault("s3vault", args.dir / "s3vault")]
    if not args.no_restic:
        if shutil.which("restic") is None:
            sys.exit("restic is not installed (apt-get install -y restic), or give --no-restic")
        tools.append(Restic("restic", args.dir / "restic"))
    for tool in tools:
        tool.base.mkdir(exist_ok=True)
    best: dict[tuple[str, str, str], Run] = {}
    every: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for r in range(args.rounds):
        for key, run in one_round(tools, args.cores, src, r, args.trace).items():
            every[key].append(run)
            if key not in best or run.wall < best[key].wall:
                best[key] = run
    report(best, tools, args.cores)
    if args.trace:
        cpu_model(every, args.cores)


if __name__ == "__main__":
    main()
