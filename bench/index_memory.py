"""`make bench-index`: memory and lookup speed of the chunk index at 10 million blobs.

Builds a BlobIndex of N random blob ids spread over packs of 16 blobs, as a backup would
(add_pack calls with compaction), then reports peak RSS, bytes per blob, the cache image size,
and lookups per second for hits and misses.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.cache import IndexCache
from s3vault.repository.index import BlobIndex

KEY = b"k" * 32
REPO_ID = ObjectId(b"r" * 32)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_only(cache_dir: str) -> None:
    """Child process: load the cache file and report the peak."""
    t0 = time.perf_counter()
    loaded = IndexCache(Path(cache_dir), REPO_ID, KEY).load()
    assert loaded is not None
    print(
        f"cache load: {len(loaded[1]):,} blobs in {time.perf_counter() - t0:.1f} s, "
        f"peak RSS {rss_mib():.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blobs", type=int, default=10_000_000)
    ap.add_argument("--load-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load_only:
        load_only(args.load_only)
        return
    base = rss_mib()
    idx = BlobIndex()
    t0 = time.perf_counter()
    per_pack = 16
    sample: list[bytes] = []
    for p in range(args.blobs // per_pack):
        raw = os.urandom(32 * per_pack)
        ids = [raw[i * 32 : (i + 1) * 32] for i in range(per_pack)]
        idx.add_pack(
            ObjectId(os.urandom(32)),
            16 << 20,
            [(BlobType.DATA, b, i << 20, 1 << 20, 1 << 20) for i, b in enumerate(ids)],
        )
        if p % 1000 == 0:
            sample.append(ids[0])
    image = sum(len(p) for p in idx.dump_pieces())
    build = time.perf_counter() - t0
    peak = rss_mib()
    del image
    t0 = time.perf_counter()
    hits = sum(idx.has(BlobType.DATA, b) for b in sample * 20)
    t_hit = (time.perf_counter() - t0) / (len(sample) * 20)
    misses = [os.urandom(32) for _ in range(len(sample) * 20)]
    t0 = time.perf_counter()
    found = sum(idx.has(BlobType.DATA, b) for b in misses)
    t_miss = (time.perf_counter() - t0) / len(misses)
    print(f"blobs: {len(idx):,} in {idx.pack_count:,} packs, built in {build:.1f} s")
    print(
        f"peak RSS: {peak:.0f} MiB (interpreter alone {base:.0f} MiB); "
        f"{(peak - base) * 1024 * 1024 / len(idx):.0f} bytes per blob"
    )
    print(
        f"lookup: hit {t_hit * 1e6:.1f} µs, miss {t_miss * 1e6:.1f} µs "
        f"({hits} hits, {found} false hits)"
    )
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        t0 = time.perf_counter()
        IndexCache(Path(d), REPO_ID, KEY).save(set(), idx)
        size = sum(f.stat().st_size for f in Path(d).rglob("index"))
        print(
            f"cache save: {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s, "
            f"peak RSS so far {rss_mib():.0f} MiB"
        )
        del idx
        subprocess.run([sys.executable, __file__, "--load-only", d], check=True)


if __name__ == "__main__":
    main()
