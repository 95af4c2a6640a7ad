"""Which packs a read-back covers: all, the n-th of m stable groups, a random share, or a size."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from s3vault.errors import UsageError
from s3vault.ids import ObjectId

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True, slots=True, kw_only=True)
class PackSelection:
    """A parsed --read-data-subset (or everything)."""

    group: tuple[int, int] | None = None  # (n, m): packs whose id falls in group n of m
    percent: float | None = None
    size: int | None = None

    @classmethod
    def parse(cls, text: str) -> PackSelection:
        """``n/m``, ``x%`` or a size such as ``500M`` / ``5G``.

        Raises:
            UsageError: anything else.
        """
        text = text.strip()
        if m := re.fullmatch(r"(\d+)/(\d+)", text):
            n, total = int(m.group(1)), int(m.group(2))
            if not 1 <= n <= total:
                msg = f"--read-data-subset {text}: n must be between 1 and m"
                raise UsageError(msg)
            return cls(group=(n, total))
        if m := re.fullmatch(r"(\d+(?:\.\d+)?)%", text):
            share = float(m.group(1))
            if not 0 < share <= 100:
                msg = f"--read-data-subset {text}: the share must be above 0 and at most 100%"
                raise UsageError(msg)
            return cls(percent=share)
        if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", text.upper()):
            return cls(size=int(float(m.group(1)) * _UNITS[m.group(2)]))
        msg = f"--read-data-subset {text!r}: use n/m, a percentage like 10% or a size like 5G"
        raise UsageError(msg)

    def choose(self, packs: list[tuple[ObjectId, int]], rng: random.Random) -> list[ObjectId]:
        """The packs to read, from (id, size) pairs."""
        if self.group is not None:
            n, m = self.group
            # Stable as the repository grows: a pack's group depends only on its id.
            return [p for p, _ in packs if int.from_bytes(p[:8], "big") % m == n - 1]
        order = sorted(packs)
        rng.shuffle(order)
        if self.percent is not None:
            count = math.ceil(len(order) * self.percent / 100)
            return [p for p, _ in order[:count]]
        if self.size is not None:
            chosen, total = [], 0
            for pack, size in order:
                if total >= self.size:
                    break
                chosen.append(pack)
                total += size
            return chosen
        return [p for p, _ in packs]
