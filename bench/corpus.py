"""A deterministic mixed corpus for benchmarks (same seed, same bytes, on every machine).

- many small text files like a source tree or /etc (compressible, one chunk each);
- medium log-like files;
- a few large random files (incompressible);
- one large file built from repeated blocks (deduplicates within itself).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

WORDS = """
def class return import self value index repository snapshot backup restore chunk pack server
config error warning info debug request response status host path file data the and for with
while yield async await lambda None True False 0 1 2 42 1024 0x1f
""".split()  # noqa: SIM905 - a word list reads better as text


@dataclass(frozen=True)
class CorpusSpec:
    small_files: int = 30_000
    small_mean: int = 10_000
    medium_files: int = 100
    medium_size: int = 2 << 20
    large_random: int = 3
    large_size: int = 200 << 20
    repeated_size: int = 256 << 20

    @classmethod
    def scaled(cls, factor: float) -> CorpusSpec:
        return cls(
            small_files=int(30_000 * factor),
            medium_files=max(1, int(100 * factor)),
            large_size=int((200 << 20) * factor),
            repeated_size=int((256 << 20) * factor),
        )


def _text(rng: random.Random, size: int) -> bytes:
    out = []
    total = 0
    while total < size:
        line = " ".join(rng.choices(WORDS, k=rng.randint(3, 14))) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def build(root: Path, spec: CorpusSpec) -> int:
    """Create the corpus under root (idempotent if it exists); returns its size in bytes."""
    marker = root / ".complete"
    if marker.exists():
        return int(marker.read_text())
    rng = random.Random(20261126)
    total = 0
    text_pool = _text(rng, 8 << 20)
    for i in range(spec.small_files):
        size = max(100, int(rng.expovariate(1 / spec.small_mean)))
        start = rng.randrange(0, len(text_pool) - size)
        path = root / "src" / f"pkg{i // 1000:02d}" / f"mod{(i // 25) % 40:02d}" / f"file{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"# file {i}\n".encode() + text_pool[start : start + size]
        path.write_bytes(data)
        total += len(data)
    for i in range(spec.medium_files):
        path = root / "logs" / f"app-{i:03d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _text(rng, spec.medium_size)
        path.write_bytes(data)
        total += len(data)
    (root / "large").mkdir(parents=True, exist_ok=True)
    for i in range(spec.large_random):
        with open(root / "large" / f"random-{i}.bin", "wb") as f:
            left = spec.large_size
            while left > 0:
                n = min(left, 16 << 20)
                f.write(rng.randbytes(n))
                left -= n
        total += spec.large_size
    blocks = [rng.randbytes(4 << 20) for _ in range(8)]
    with open(root / "large" / "repeats.img", "wb") as f:
        written = 0
        while written < spec.repeated_size:
            block = rng.choice(blocks)
            f.write(block)
            written += len(block)
        total += written
    marker.write_text(str(total))
    return total


def change_small_files(root: Path, fraction: float, seed: int) -> int:
    """Rewrite a fraction of the small files; returns how many."""
    rng = random.Random(seed)
    files = sorted((root / "src").rglob("*.py"))
    chosen = rng.sample(files, max(1, int(len(files) * fraction)))
    for path in chosen:
        data = path.read_bytes()
        path.write_bytes(
            data[: len(data) // 2] + f"# changed {seed}\n".encode() + data[len(data) // 2 :]
        )
    return len(chosen)


def insert_at_start_of_large_files(root: Path, seed: int) -> int:
    """Insert a few bytes at the start of each large file; returns their total size."""
    total = 0
    for path in sorted((root / "large").iterdir()):
        tmp = path.with_suffix(".tmp")
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            dst.write(f"INSERT {seed}\n".encode())
            while block := src.read(16 << 20):
                dst.write(block)
        os.replace(tmp, path)
        total += path.stat().st_size
    return total
