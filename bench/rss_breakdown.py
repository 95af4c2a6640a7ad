"""What a command's peak resident set is made of: which process, when, and of what.

    python bench/rss_breakdown.py [--interval MS] [--stages] -- s3vault -r REPO backup PATH

Runs the command and samples every process of its tree (the command and its descendants, found
through /proc/PID/task/*/children) every few milliseconds: VmRSS split into anonymous memory,
file-backed pages (the interpreter, shared libraries) and shared memory. Prints, for each
process, its peak (VmHWM, the kernel's own high-water mark, read at each sample and at exit
where the process is still there) and what it held at the highest sample, then the figure that
`make bench` reports: ``ru_maxrss`` from ``wait4``, the largest peak of the command and of every
descendant it waited for.

``--stages`` also runs the command under a profile hook (``S3VAULT_RSS_STAGES`` names the
log it writes, read by bench/rss_stages.py, which this tool puts on PYTHONPATH through
``sitecustomize``): the resident set and high-water mark at the start and end of the steps a
backup takes (the key derivation, the index load, the fork of the workers, the walk, the
commit) and at each import of a top-level package. The hook costs time: read the stages for
memory, never for seconds.

Nothing here is part of s3vault: the product never reads these variables.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def status(pid: int) -> dict[str, int]:
    """The memory lines of /proc/PID/status in KiB, and the process's name; empty when gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in FIELDS:
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        return {}
    return out


def children(pid: int) -> list[int]:
    """The direct children of a process (every thread's)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return found


def tree(root: int) -> list[int]:
    """The process and all its descendants (a stack, no recursion)."""
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack += children(pid)
    return out


@dataclass
class Seen:
    """What was sampled of one process."""

    pid: int
    first: float
    name: str = ""
    hwm: int = 0
    top: dict[str, int] = field(default_factory=dict)  # the sample with the largest VmRSS
    top_at: float = 0.0
    last: float = 0.0
    series: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    maps: list[tuple[int, int, str]] = field(default_factory=list)  # at the top sample


def mappings(pid: int) -> list[tuple[int, int, str]]:
    """(resident KiB, size KiB, what) of each mapping with 256 KiB or more resident: what is
    the mapped file, [heap], or "anon" (a malloc arena, a large malloc block, a buffer)."""
    out: list[tuple[int, int, str]] = []
    size, what = 0, ""
    try:
        with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
            for line in f:
                head = line.split()
                if not head:
                    continue
                if "-" in head[0] and not head[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in head[0].split("-"))
                    size, what = (hi - lo) // 1024, head[5] if len(head) > 5 else "anon"
                elif head[0] == "Rss:" and int(head[1]) >= 256:
                    out.append((int(head[1]), size, what))
    except OSError:
        pass
    return sorted(out, reverse=True)


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a][:4]
    return " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words))


def run(
    argv: list[str],
    interval: float,
    env: dict[str, str],
    series_every: float = 1e9,
    with_maps: bool = False,
) -> tuple[int, float, float, dict[int, Seen]]:
    """Run and sample; returns (exit code, seconds, ru_maxrss MiB, {pid: Seen}); each
    process's samples at most every ``series_every`` seconds go to its ``series``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    seen: dict[int, Seen] = {}
    while True:
        now = time.perf_counter() - t0
        for pid in tree(proc.pid):
            st = status(pid)
            if not st:
                continue
            s = seen.get(pid)
            if s is None:
                s = seen[pid] = Seen(pid, now, _name(pid))
            s.hwm = max(s.hwm, st.get("VmHWM", 0))
            s.last = now
            if st.get("VmRSS", 0) > s.top.get("VmRSS", -1):
                s.top, s.top_at = st, now
                if with_maps:
                    s.maps = mappings(pid)
            if not s.series or now - s.series[-1][0] >= series_every:
                s.series.append((now, st))
        waited, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)
        if waited:
            break
        time.sleep(interval)
    seconds = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(wstatus), seconds, usage.ru_maxrss / 1024, seen


def report(code: int, seconds: float, maxrss: float, seen: dict[int, Seen]) -> str:
    mib = 1024
    rows = [
        f"exit {code}, {seconds:.2f} s, ru_maxrss (wait4) {maxrss:.1f} MiB",
        f"{'pid':>7} {'life s':>13} {'VmHWM':>6} | at top sample: {'s':>5} {'RSS':>6} "
        f"{'anon':>6} {'file':>6} {'shmem':>6}  command",
    ]
    for s in sorted(seen.values(), key=lambda s: s.first):
        t = s.top
        rows.append(
            f"{s.pid:>7} {s.first:6.2f}-{s.last:6.2f} {s.hwm / mib:6.1f} |"
            f" {'':>14} {s.top_at:5.2f} {t.get('VmRSS', 0) / mib:6.1f}"
            f" {t.get('RssAnon', 0) / mib:6.1f} {t.get('RssFile', 0) / mib:6.1f}"
            f" {t.get('RssShmem', 0) / mib:6.1f}  {s.name}"
        )
    rows.append("(MiB; VmHWM may miss a process's last milliseconds: ru_maxrss does not)")
    for s in seen.values():
        if s.maps:
            rows.append(f"\n{s.pid} at {s.top_at:.2f} s: mappings with 256 KiB+ resident")
            rows += [
                f"  {rss / 1024:6.1f} of {size / 1024:7.1f} MiB  {what}"
                for rss, size, what in s.maps
            ]
    return "\n".join(rows)


def series(seen: dict[int, Seen]) -> str:
    rows = []
    for s in sorted(seen.values(), key=lambda s: s.first):
        rows.append(f"\n{s.pid} {s.name}: seconds, RSS, anon, file, shmem (MiB)")
        for at, st in s.series:
            rows.append(
                f"  {at:6.2f} {st.get('VmRSS', 0) / 1024:6.1f} {st.get('RssAnon', 0) / 1024:6.1f}"
                f" {st.get('RssFile', 0) / 1024:6.1f} {st.get('RssShmem', 0) / 1024:6.1f}"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interval", type=float, default=2.0, help="sampling interval, ms")
    ap.add_argument("--stages", action="store_true", help="log stages (bench/rss_stages.py)")
    ap.add_argument(
        "--series", type=float, default=0, help="also print each process's samples every S s"
    )
    ap.add_argument("--maps", action="store_true", help="mappings at each process's top sample")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not argv:
        ap.error("give the command after --")
    env = dict(os.environ)
    log = None
    if args.stages:
        hook = tempfile.mkdtemp(prefix="rss-stages-")
        stages = Path(__file__).resolve().with_name("rss_stages.py")
        Path(hook, "sitecustomize.py").write_text(stages.read_text())
        hooks = stages.with_name("stephooks.py")  # what it imports
        Path(hook, "stephooks.py").write_text(hooks.read_text())
        log = Path(hook, "stages.log")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [hook, env.get("PYTHONPATH")]))
        env["S3VAULT_RSS_STAGES"] = str(log)
    every = args.series or 1e9
    code, seconds, maxrss, seen = run(argv, args.interval / 1000, env, every, args.maps)
    print(report(code, seconds, maxrss, seen))
    if args.series:
        print(series(seen))
    if log is not None and log.exists():
        print("\nstages (pid, seconds since start, event, VmRSS MiB, VmHWM MiB):")
        sys.stdout.write(log.read_text())


if __name__ == "__main__":
    main()
