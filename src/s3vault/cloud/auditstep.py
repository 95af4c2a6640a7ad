"""One item of ``setup-audit`` (the log bucket, the trail, the Config rules, GuardDuty): what
it is once set up, what must change to get there, and the change itself. Planned by reading
only; applied in order; an item already in place has no changes (a second run changes
nothing and says so)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditStep:
    """One planned item; ``apply`` makes ``changes`` (None when there are none)."""

    item: str  # "trail s3vault-backups"
    state: str  # what it is (will be) once in place
    changes: tuple[str, ...] = ()  # "created", "logging started"...; () when in place
    apply: Callable[[], None] | None = field(default=None, compare=False, repr=False)
