"""The five ways the campaign damages one object. Each is drawn from a seeded generator, so a
case (object, mutation, seed) is replayed exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass

MUTATIONS = ("delete", "truncate", "flip", "random", "swap")


@dataclass(frozen=True)
class Damage:
    """What a mutation does to an object: its new bytes (None: deleted) and how, in words."""

    data: bytes | None
    how: str


def damage(
    mutation: str, data: bytes, rng: random.Random, others: list[tuple[str, bytes]]
) -> Damage:
    """Apply ``mutation`` to an object holding ``data``. ``others``: (name, bytes) of objects
    of the same kind, for "swap" (replace with another object of the same kind)."""
    if mutation == "delete":
        return Damage(None, "deleted")
    if mutation == "truncate":
        cut = rng.randrange(len(data)) if data else 0
        return Damage(data[:cut], f"truncated to {cut} of {len(data)} bytes")
    if mutation == "flip":
        pos, bit = rng.randrange(len(data)), rng.randrange(8)
        flipped = bytearray(data)
        flipped[pos] ^= 1 << bit
        return Damage(bytes(flipped), f"bit {bit} of byte {pos} of {len(data)} flipped")
    if mutation == "random":
        return Damage(rng.randbytes(len(data)), f"replaced by {len(data)} random bytes")
    if mutation == "swap":
        candidates = [(n, d) for n, d in others if d != data]
        name, other = rng.choice(candidates)
        return Damage(other, f"replaced by {name}")
    msg = f"unknown mutation {mutation}"
    raise ValueError(msg)
