"""Which snapshots a command that changes snapshots works on (tag, rewrite): the ones named by
id, or every one the filters select.

As in restic: without ids, every readable snapshot that matches ``--host``, ``--tag`` and
``--path`` (all of them when no filter is given); with ids, exactly the snapshots named (full
ids or unique prefixes), the filters choosing only which snapshot ``latest`` and ``latest~N``
are. A damaged snapshot file is left out of a listing (``Repository.skip`` names it); naming
it is an integrity error.
"""

from __future__ import annotations

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import Unsure, find_snapshot, list_snapshots

_HEX = frozenset("0123456789abcdef")


def select_snapshots(
    repo: Repository, refs: tuple[str, ...], filt: SnapshotFilter, *, command: str
) -> list[tuple[ObjectId, SnapshotFile]]:
    """The snapshots to work on, each once, oldest first.

    Raises:
        UsageError: a reference is not an id, matches no snapshot or several.
        IntegrityError: a reference names a snapshot file that cannot be read.
    """
    listed = list_snapshots(repo)
    if not refs:
        return filt.chosen(listed)
    filtered = filt.chosen(listed)
    chosen: dict[ObjectId, SnapshotFile] = {}
    for ref in refs:
        text = ref.strip().lower()
        if text.startswith("latest"):  # a copy of another snapshot than meant changes
            # nothing here and says so; a tag or rewrite of one would change it
            unsure: Unsure = "say" if command == "copy" else "refuse"
            sid, snap = find_snapshot(repo, text, snapshots=filtered, if_unsure=unsure)
        elif text and set(text) <= _HEX:
            sid, snap = find_snapshot(repo, text, snapshots=listed)
        else:
            msg = f"{command}: {ref!r} is not a snapshot id (hex digits, a prefix, or latest)"
            raise UsageError(msg)
        chosen.setdefault(sid, snap)
    return sorted(chosen.items(), key=lambda item: (item[1].time, item[0]))
