"""`make bench-long`: does a long ``backup --stdin`` stay flat in throughput and in memory?

Streams ``--gigabytes`` GB (10^9 bytes) of generated data through a pipe into the real
``s3vault backup --stdin --stdin-filename stream.bin`` (the console script beside this
interpreter) into a fresh local repository on disk (``--dir``, /tmp by default; tmpfs is
refused, so the run includes the disk's own write-back), and every ``--interval`` second samples

- the bytes written into the pipe so far (counted by the generator, so the rate is what s3vault
  takes in: the pipe holds at most 1 MiB), and
- the s3vault process's resident set (``VmRSS`` of /proc/PID/status).

The stream is made on the fly in a child process, deterministically (``--seed``), no file on
disk: alternating runs of 1-8 MiB of random bytes and of text-like data (words, numbers and
punctuation, which zstd level 3 shrinks about 2.5x). Both come from two precomputed 32 MiB pools,
cut into 64 KiB pieces at seeded offsets, each piece led by a 16-byte counter header, so the
generator costs a header and a ``writev`` per 64 KiB, and no content-defined chunk (at least
512 KiB, several headers) repeats: nothing should dedup, and the run prints what did (the
backup's own ``data_added`` against the bytes read).

Prints the throughput of each quarter of the stream (by bytes: the time from the first to the
last byte of that quarter), the last/first ratio, RSS at one minute and at the end, peak RSS
(the child's ``ru_maxrss`` from ``wait4``), total time, and the repository size; then deletes
the repository (``--keep`` keeps it). ``--samples FILE`` writes every sample as CSV.

    make bench-long                                   # 20 GB (3-4.5 minutes here)
    make bench-long BENCH_LONG_ARGS="--gigabytes 2"   # a quick one
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASSWORD = b"bench-long\n"
POOL = 32 << 20
PIECE = 64 << 10
HEADER = 16
MIB = 1 << 20
WORDS_TEXT = (
    "the of and to in is for on that with by as at from this be are or an it not was which "
    "backup restore snapshot repository pack blob index tree chunk key data file host path "
    "error warning info debug request response client server time size count total value "
    "user group mode owner start stop retry timeout connected closed opened written read"
)


def _text_pool(rng: random.Random, size: int) -> bytes:
    """Text-like bytes: log-ish lines of words, numbers and punctuation (zstd -3: about 2.5x)."""
    vocabulary = WORDS_TEXT.split()
    lines: list[str] = []
    total = 0
    while total < size:
        n = rng.randrange(6, 16)
        words = rng.choices(vocabulary, k=n)
        line = (
            f"2026-12-05T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d}.{rng.randrange(1000):03d} [{rng.randrange(1, 65536)}] "
            + " ".join(words)
            + f" id={rng.getrandbits(32):08x} n={rng.randrange(100000)}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def generate(fd: int, total: int, seed: int, counter: Any, ready: Any, cpu: Any) -> None:
    """Build the pools, set ``ready``, then write ``total`` bytes of the mixed stream to ``fd``,
    keeping ``counter`` at the bytes written so far; ``cpu`` gets this process's CPU seconds
    spent writing (after the pools were built)."""
    rng = random.Random(seed)
    pools = (memoryview(rng.randbytes(POOL)), memoryview(_text_pool(rng, POOL)))
    times = os.times()
    ready.set()
    written = 0
    piece_no = 0
    kind = 0
    while written < total:
        run_end = min(total, written + rng.randrange(1 * MIB, 8 * MIB + 1))
        pool = pools[kind]
        while written < run_end:
            n = min(PIECE, run_end - written)
            off = rng.randrange(0, POOL - PIECE)
            header = piece_no.to_bytes(HEADER, "big")[: min(HEADER, n)]
            parts: list[memoryview | bytes] = [header, pool[off : off + n - len(header)]]
            piece_no += 1
            while parts:
                done = os.writev(fd, parts)
                written += done
                counter.value = written
                parts = _advance(parts, done)
        kind ^= 1
    os.close(fd)
    end = os.times()
    cpu.value = (end.user - times.user) + (end.system - times.system)


def _advance(parts: list[memoryview | bytes], done: int) -> list[memoryview | bytes]:
    """What is left of ``parts`` after a short ``writev`` of ``done`` bytes."""
    out: list[memoryview | bytes] = []
    for part in parts:
        if done >= len(part):
            done -= len(part)
            continue
        out.append(memoryview(part)[done:])
        done = 0
    return out


def _fs_type(path: Path) -> str:
    """The file system type of the mount holding ``path`` (longest mount-point prefix)."""
    best, fstype = "", "?"
    real = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mnt = fields[1]
        if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, fstype = mnt, fields[2]
    return fstype


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB (empty once it has exited)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far, all its threads (0 once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat; idle and iowait idle)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


@dataclass
class Sample:
    t: float  # seconds since s3vault started
    bytes: int  # bytes written into the pipe so far
    rss_kib: int  # s3vault's VmRSS (0 once it has exited)
    hwm_kib: int = 0  # s3vault's VmHWM so far
    cpu_s: float = 0.0  # s3vault's CPU seconds so far
    busy: int = 0  # the machine's busy CPU ticks so far (every process, every core)
    ticks: int = 0  # the machine's CPU ticks so far


def _time_at(samples: list[Sample], nbytes: float) -> float:
    """When the stream passed ``nbytes`` (linear between the samples around it)."""
    prev = samples[0]
    for s in samples:
        if s.bytes >= nbytes:
            if s.bytes == prev.bytes:
                return s.t
            return prev.t + (s.t - prev.t) * (nbytes - prev.bytes) / (s.bytes - prev.bytes)
        prev = s
    return samples[-1].t


def _sample_at(samples: list[Sample], t: float) -> Sample:
    """The first sample at or after time ``t`` (the last one if none)."""
    return next((s for s in samples if s.t >= t), samples[-1])


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _s3vault() -> str:
    exe = Path(sys.executable).parent / "s3vault"
    return str(exe) if exe.exists() else "s3vault"


def _run(args: argparse.Namespace, work: Path) -> int:  # long: one measured run, in order
    repo = work / "repo"
    pwfile = work / "password"
    pwfile.write_bytes(PASSWORD)
    env = dict(os.environ)
    env.update(
        S3VAULT_REPOSITORY=str(repo),
        S3VAULT_PASSWORD_FILE=str(pwfile),
        XDG_CACHE_HOME=str(work / "cache"),
    )
    subprocess.run([_s3vault(), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    total = int(args.gigabytes * 1e9)
    rfd, wfd = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, MIB)  # 1 MiB in flight at most
    ctx = multiprocessing.get_context("fork")  # the child inherits the pipe's write end
    counter = ctx.Value("q", 0, lock=False)
    cpu = ctx.Value("d", 0.0, lock=False)
    ready = ctx.Event()
    gen = ctx.Process(target=generate, args=(wfd, total, args.seed, counter, ready, cpu))
    gen.start()  # builds its pools first: that is not part of the measured time
    os.close(wfd)
    ready.wait()
    out_path = work / "backup.json"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [_s3vault(), "--json", "backup", "--stdin", "--stdin-filename", "stream.bin"],
            stdin=rfd,
            stdout=out,
            env=env,
        )
    t0 = time.monotonic()
    os.close(rfd)
    samples = [Sample(0.0, 0, _status(proc.pid).get("VmRSS", 0), 0, 0.0, *_machine_ticks())]
    hwm = 0
    next_t = t0 + args.interval
    while True:
        time.sleep(max(0.0, next_t - time.monotonic()))
        next_t += args.interval
        st = _status(proc.pid)
        hwm = max(hwm, st.get("VmHWM", 0))
        cpu_s = _cpu_seconds(proc.pid) or samples[-1].cpu_s
        samples.append(
            Sample(
                time.monotonic() - t0,
                int(counter.value),
                st.get("VmRSS", 0),
                hwm,
                cpu_s,
                *_machine_ticks(),
            )
        )
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # its rusage: the peak RSS
        if pid:
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            maxrss = usage.ru_maxrss
            user_sys = (usage.ru_utime, usage.ru_stime)
            break
        if args.progress and len(samples) % args.progress == 0:
            s = samples[-1]
            print(
                f"  {s.t:7.0f} s  {s.bytes / 1e9:7.2f} GB  {s.rss_kib / 1024:6.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.monotonic() - t0
    gen.join()
    if rc != 0 or gen.exitcode != 0:
        print(f"backup exit {rc}, generator exit {gen.exitcode}", file=sys.stderr)
        print(out_path.read_text(errors="replace")[-2000:], file=sys.stderr)
        return 1
    if args.samples:
        with open(args.samples, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "bytes", "rss_kib", "hwm_kib", "cpu_s", "busy", "ticks"])
            for s in samples:
                w.writerow([f"{s.t:.2f}", s.bytes, s.rss_kib, s.hwm_kib, s.cpu_s, s.busy, s.ticks])
    _report(args, samples, total, elapsed, hwm, maxrss, repo, out_path)
    print(f"  s3vault CPU: user {user_sys[0]:.1f} s, system {user_sys[1]:.1f} s")
    print(f"  generator CPU: {cpu.value:.1f} s ({cpu.value / elapsed:.0%} of one core)")
    return 0


def _summary(out_path: Path) -> dict[str, object]:
    """The backup's JSON summary (the last JSON object it printed that has data_added)."""
    found: dict[str, object] = {}
    for line in out_path.read_text(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "data_added" in obj:
            found = obj
    return found


def _report(  # long: the printed table, one line per figure
    args: argparse.Namespace,
    samples: list[Sample],
    total: int,
    elapsed: float,
    hwm_kib: int,
    maxrss_kib: int,
    repo: Path,
    out_path: Path,
) -> None:
    bounds = [_time_at(samples, total * q / 4) for q in range(5)]
    bounds[0] = 0.0
    rates = [(total / 4) / max(1e-9, bounds[q + 1] - bounds[q]) for q in range(4)]
    live = [s for s in samples if s.rss_kib]
    at_min = next((s for s in live if s.t >= 60), live[-1])
    after_min = [s.rss_kib for s in live if s.t >= 60] or [live[-1].rss_kib]
    summary = _summary(out_path)
    size = _du(repo)
    mib = 1 << 20
    print(f"long run: {total / 1e9:.1f} GB generated stream -> backup --stdin, {repo.parent}")
    print(f"  file system: {_fs_type(repo)}, seed {args.seed}")
    ncpu = os.cpu_count() or 1
    for q, rate in enumerate(rates):
        span = bounds[q + 1] - bounds[q]
        a, b = _sample_at(samples, bounds[q]), _sample_at(samples, bounds[q + 1])
        cpu_gb = (b.cpu_s - a.cpu_s) / (total / 4 / 1e9)
        busy = (b.busy - a.busy) / max(1, b.ticks - a.ticks)
        own = (b.cpu_s - a.cpu_s) / max(1e-9, b.t - a.t) / ncpu
        print(
            f"  quarter {q + 1}: {rate / mib:6.1f} MiB/s ({rate / 1e6:6.1f} MB/s, {span:6.1f} s);"
            f" s3vault CPU {cpu_gb:5.2f} s/GB, {own:4.0%} of the machine; machine busy {busy:4.0%}"
        )
    print(f"  last/first quarter: {rates[3] / rates[0]:.3f}")
    per_min: list[Sample] = []
    for s in samples:
        if s.t >= 60 * (len(per_min) + 1):
            per_min.append(s)
    if per_min:
        prev_b, prev_t = 0, 0.0
        mins = []
        for s in per_min:
            mins.append((s.bytes - prev_b) / (s.t - prev_t) / mib)
            prev_b, prev_t = s.bytes, s.t
        print(f"  per-minute MiB/s: min {min(mins):.1f}, max {max(mins):.1f}")
    print(f"  stream written in {bounds[4]:.1f} s; backup finished after {elapsed:.1f} s")
    print(f"  mean: {total / elapsed / mib:.1f} MiB/s ({total / elapsed / 1e6:.1f} MB/s)")
    print(
        f"  RSS at {at_min.t:.0f} s: {at_min.rss_kib / 1024:.0f} MiB"
        f" (VmHWM by then {at_min.hwm_kib / 1024:.0f} MiB)"
    )
    lo, hi = min(after_min) / 1024, max(after_min) / 1024
    print(f"  RSS after the first minute: min {lo:.0f}, max {hi:.0f} MiB")
    print(f"  RSS at the end (last sample, {live[-1].t:.0f} s): {live[-1].rss_kib / 1024:.0f} MiB")
    hwm, peak = hwm_kib / 1024, maxrss_kib / 1024
    print(f"  peak RSS: VmHWM {hwm:.0f} MiB (last sampled), ru_maxrss {peak:.0f} MiB")
    print(f"  repository: {size / 1e9:.2f} GB ({size / total:.3f} of the stream)")
    if summary:
        added, raw = summary.get("data_added"), summary.get("data_added_raw")
        processed, blobs = summary.get("total_bytes_processed"), summary.get("data_blobs")
        print(
            f"  backup summary: {processed} bytes read, {blobs} new data blobs, "
            f"{raw} bytes new before compression, {added} after"
        )
        if isinstance(added, int) and isinstance(raw, int) and isinstance(processed, int):
            # raw counts the tree blob too (the file node lists every data blob's id)
            deduped = max(0, processed - raw)
            print(
                f"  deduplicated: {deduped} bytes ({deduped / max(1, processed):.2%} of the "
                f"stream); compression: {raw / max(1, added):.3f}x"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gigabytes", type=float, default=20.0, help="stream size in GB (10^9)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--interval", type=float, default=1.0, help="sampling interval, seconds")
    ap.add_argument("--dir", default="/tmp", help="where the repository goes (not tmpfs)")
    ap.add_argument("--keep", action="store_true", help="keep the repository (prints where)")
    ap.add_argument("--samples", help="write every sample to this CSV file")
    ap.add_argument(
        "--progress", type=int, default=60, help="a progress line every N samples (0: none)"
    )
    ap.add_argument("--allow-tmpfs", action="store_true")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    base = Path(args.dir)
    fstype = _fs_type(base)
    if fstype == "tmpfs" and not args.allow_tmpfs:
        print(f"{base} is tmpfs: give --dir on a disk (or --allow-tmpfs)", file=sys.stderr)
        return 2
    free = shutil.disk_usage(base).free
    if free < args.gigabytes * 1e9 * 0.9:
        print(
            f"{base}: {free / 1e9:.1f} GB free; the repository may need about "
            f"{args.gigabytes * 0.8:.1f} GB",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="s3vault-long-", dir=base))
    try:
        return _run(args, work)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
