"""`make bench-index`: memory and lookup speed of the chunk index at 10 million blobs.

Builds a BlobIndex of N random blob ids spread over packs of 16 blobs, as a backup would
(add_pack calls with compaction), then reports peak RSS, bytes per blob, the cache image size,
and lookups per second for hits and misses.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blobs", type=int, default=10_000_000)
    args = ap.parse_args()
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
    image = idx.dump()
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
        f"{(peak - base) * 1024 * 1024 / len(idx):.0f} bytes per blob incl. the cache image"
    )
    print(
        f"lookup: hit {t_hit * 1e6:.1f} µs, miss {t_miss * 1e6:.1f} µs "
        f"({hits} hits, {found} false hits)"
    )


if __name__ == "__main__":
    main()
