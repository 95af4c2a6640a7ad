"""What every options record checks of its fields on the way in: a string given where a tuple
of strings goes. Python iterates a string as its characters, so ``BackupOptions(paths="/etc")``
backed up ``/``, ``e``, ``t`` and ``c``, and ``tags="prod"`` tagged p, r, o and d (an attack
pass, 2026-12-07). Tag lists are the exception: a string there is restic's ``"a,b"``
(s3vault.tags)."""

from __future__ import annotations

import dataclasses
from typing import Any

from s3vault.errors import UsageError


def refuse_bare_strings(record: Any) -> None:
    """Refuse a string (or bytes) in a field declared as a tuple of strings.

    Raises:
        UsageError: names the record, the field and the spelling meant.
    """
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        kind = str(f.type)
        if isinstance(value, str | bytes) and kind.startswith("tuple[") and "TagList" not in kind:
            msg = (
                f"{type(record).__name__}.{f.name} takes a tuple of strings, not a string: "
                f"write ({value!r},)"
            )
            raise UsageError(msg)
