"""When Python's cyclic garbage collector runs during s3vault's batch work.

s3vault's large structures (a restore's plan, a walk's nodes, the index, what a forked worker
inherits) hold no reference cycles: reference counting frees them. The collector can only
traverse them, and it does so again and again while they are young: the plan of a restore of
the bench corpus (30,000 files) cost the restore's parent 0.24 s of collections while it ran,
and the full collection of the interpreter's exit another 0.25 s (docs/performance.md). Two
rules, for whoever builds such structures:

- ``paused()`` around work that allocates much and frees little (a plan, a walk): no
  collection runs inside; it runs again after, as it was.
- ``inherited_heap_frozen()`` first thing in a forked worker: the parent's objects are never
  traversed by the worker's collections (each traversal writes every object's collector
  header, so copies the fork's shared pages one by one).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off inside, and as it was after (nested: the outermost decides).
    Cycles made inside are collected by the first collection after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def inherited_heap_frozen() -> None:
    """In a forked worker: every object inherited from the parent moves to the collector's
    permanent generation (``gc.freeze``, O(1)), and the collector runs, a parent's pause
    notwithstanding (a restore forks its workers inside ``paused()``): the worker's own
    objects are collected as in any process; the inherited ones are freed by reference
    counting as ever; the parent is untouched."""
    gc.freeze()
    gc.enable()
