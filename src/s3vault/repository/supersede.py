"""Which index files and deletion records are live (design.md §5, §10): a file that a newer one
names in ``supersedes`` is replaced, and every reader ignores it. The one home of that rule;
the readers (the index load, marks, prune, verify, repair index) decide only what to do with
a file they could not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from s3vault.ids import ObjectId


class Superseding(Protocol):
    """An index file or a deletion record: it may replace older files of its kind."""

    @property
    def supersedes(self) -> tuple[ObjectId, ...]:
        """The ids of the files it replaces."""
        ...


F = TypeVar("F", bound=Superseding)
P = TypeVar("P")


def superseded(files: Iterable[Superseding]) -> set[ObjectId]:
    """Every id that one of ``files`` replaces (whether or not that file was read)."""
    return {old for f in files for old in f.supersedes}


def live(files: Mapping[ObjectId, F]) -> list[tuple[ObjectId, F]]:
    """The files no other file of ``files`` replaces, in id order."""
    replaced = superseded(files.values())
    return [(oid, f) for oid, f in sorted(files.items()) if oid not in replaced]


def replacing(
    parts: Sequence[P], old: Iterable[ObjectId]
) -> Iterator[tuple[P, tuple[ObjectId, ...]]]:
    """The files that together replace ``old``, in the order to store them, each with the
    ``supersedes`` it carries: only the last names ``old``. Until it is stored the old files
    stay live beside the new ones (the same packs described twice, which readers take once),
    so a reader listing between two of the writes, or a writer stopped between them, never
    sees the old files replaced by a part of their replacement (design.md §5)."""
    replaced = tuple(old)
    for n, part in enumerate(parts, start=1):
        yield part, replaced if n == len(parts) else ()
