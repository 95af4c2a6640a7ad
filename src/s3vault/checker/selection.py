"""Which packs a read-back covers: all, the n-th of m stable groups, a random share, or a size."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from s3vault.errors import UsageError
from s3vault.ids import ObjectId

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True, slots=True, kw_only=True)
class PackSelection:
    """A parsed --read-data-subset (or everything)."""

    group: tuple[int, int] | None = None  # (n, m): packs whose id falls in group n of m
    percent: float | None = None
    size: int | None = None
    # Coverage: the packs whose last proof (Unix time; absent: never proven) is oldest first,
    # up to ``size`` bytes, or ``percent`` of the bytes
    last_proof: Mapping[ObjectId, float] | None = None

    @classmethod
    def oldest_first(cls, budget: str, last_proof: Mapping[ObjectId, float]) -> PackSelection:
        """A coverage read of ``budget`` (a size like ``10G`` or a share like ``10%`` of the
        bytes), the least recently proven packs first.

        Raises:
            UsageError: a malformed budget.
        """
        parsed = cls.parse(budget)
        if parsed.group is not None:
            msg = f"--budget {budget}: give a size like 10G or a share like 5%"
            raise UsageError(msg)
        return replace(parsed, last_proof=last_proof)

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
            size = int(float(m.group(1)) * _UNITS[m.group(2)])
            if size <= 0:  # a templated ${N}M that came out 0: nothing read, "no errors"
                msg = f"--read-data-subset {text}: the size must be above 0 (as restic)"
                raise UsageError(msg)
            return cls(size=size)
        msg = f"--read-data-subset {text!r}: use n/m, a percentage like 10% or a size like 5G"
        raise UsageError(msg)

    def choose(self, packs: list[tuple[ObjectId, int]], rng: random.Random) -> list[ObjectId]:
        """The packs to read, from (id, size) pairs."""
        if self.last_proof is not None:
            return self._oldest_first(packs, self.last_proof)
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

    def _oldest_first(
        self, packs: list[tuple[ObjectId, int]], last: Mapping[ObjectId, float]
    ) -> list[ObjectId]:
        """Never-proven packs first, then the oldest proofs; at least one pack, then up to
        the budget."""
        order = sorted(packs, key=lambda p: (last.get(p[0], -math.inf), p[0]))
        budget = self.size
        if budget is None:
            budget = math.ceil(sum(size for _, size in packs) * (self.percent or 100) / 100)
        chosen: list[ObjectId] = []
        total = 0
        for pack, size in order:
            if chosen and total + size > budget:
                break
            chosen.append(pack)
            total += size
        return chosen
