"""Tag lists as restic spells and reads them (restic's ``TagList`` and ``TagLists``).

On the command line one ``--tag`` value is a *tag list*: ``a,b`` is the two tags ``a`` and
``b`` (commas split, spaces around each tag are dropped). What a tag list means depends on
where it is used, exactly as in restic:

- ``backup --tag a,b --tag c`` stores the three tags a, b and c (empty tags are dropped);
- a filter (``snapshots``, ``forget``, ``find``, ``copy``: ``--tag``) and ``forget --keep-tag``
  select a snapshot that has **every** tag of **at least one** list: ``--tag a,b`` selects
  snapshots tagged both a and b, ``--tag a --tag b`` those tagged a or b;
- the empty list ``--tag ''`` selects the snapshots without any tag.

A tag cannot contain a comma (as in restic). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TagList = tuple[str, ...]


def split_tags(text: str) -> TagList:
    """One tag list from its spelling: ``"a, b"`` → ``("a", "b")``; ``""`` → ``("",)``."""
    return tuple(part.strip() for part in text.split(","))


def tag_lists(values: Iterable[str | Sequence[str]]) -> tuple[TagList, ...]:
    """Tag lists from option values: a string is split at commas, a sequence of strings is a
    list already (each of its tags taken as it is)."""
    return tuple(split_tags(v) if isinstance(v, str) else tuple(str(t) for t in v) for v in values)


def flatten(lists: Iterable[TagList]) -> TagList:
    """The tags a backup stores: every non-empty tag of every list, each once, in order."""
    seen: dict[str, None] = {}
    for tags in lists:
        for tag in tags:
            if tag:
                seen.setdefault(tag, None)
    return tuple(seen)


def has_tags(tags: Sequence[str], wanted: TagList) -> bool:
    """True when a snapshot with ``tags`` has every tag of ``wanted`` (restic's HasTags):
    an empty tag in ``wanted`` is satisfied by a snapshot without any tag, as in restic."""
    for tag in wanted:
        if tag == "" and not tags:
            return True
        if tag not in tags:
            return False
    return True


def matches(tags: Sequence[str], lists: Sequence[TagList]) -> bool:
    """True when ``lists`` is empty or one of its lists is satisfied (restic's HasTagList)."""
    return not lists or any(has_tags(tags, wanted) for wanted in lists)


def spell(wanted: TagList) -> str:
    """A tag list as the option that gives it: ``a,b``; the empty list as ``''``."""
    text = ",".join(wanted)
    return text if text else "''"
