"""The --keep-* options of forget and init: restic 0.14's retention flags, parsed into the
library's Policy (Policy.from_options)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from s3vault import Policy
from s3vault.cli.options import KeepCount, KeepWithin, TagListType

F = TypeVar("F", bound=Callable[..., Any])


COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
DURATIONS = ("within", *(f"within_{c}" for c in COUNTS[1:]))
KEEP_NAMES = (*(f"keep_{c}" for c in COUNTS), *(f"keep_{d}" for d in DURATIONS), "keep_tags")
SHORT = {"last": "-l", "hourly": "-H", "daily": "-d", "weekly": "-w", "monthly": "-m"}
SHORT["yearly"] = "-y"  # restic's short forms
UNIT = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}


def keep_options(fn: F) -> F:
    """The retention rules (forget; init stores them as the repository's policy), handed to
    the command as one ``policy: Policy``. Counts, durations and tag lists mean what they mean
    in restic 0.14 (``--keep-within 6m`` is six months, ``--keep-tag a,b`` both tags)."""

    @functools.wraps(fn)
    def with_policy(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in KEEP_NAMES}
        return fn(*args, policy=Policy.from_options(values), **kwargs)

    command = cast("F", with_policy)
    counts = [
        click.option(
            SHORT[c],
            f"--keep-{c}",
            type=KeepCount(),
            default=0,
            metavar="N",
            help="Keep the N newest snapshots"
            if c == "last"
            else f"Keep the newest snapshot of each of the last N {UNIT[c]}s that have one",
        )
        for c in COUNTS
    ]
    durations = [
        click.option(
            "--keep-" + d.replace("_", "-"),
            type=KeepWithin(),
            metavar="DURATION",
            help=(
                "Keep every snapshot newer than DURATION before the latest snapshot of its "
                "group: restic's y, m (months), d, h, such as 7d, 6m or 1y2m3d4h"
            )
            if d == "within"
            else f"Keep the newest snapshot of each {UNIT[d.removeprefix('within_')]} within "
            "DURATION before the latest snapshot",
        )
        for d in DURATIONS
    ]
    tags = click.option(
        "--keep-tag",
        "keep_tags",
        multiple=True,
        type=TagListType(),
        metavar="TAG[,TAG...]",
        help="Keep snapshots with all of these tags; repeat for any of several lists",
    )
    for option in reversed([*counts, *durations, tags]):
        command = option(command)
    return command
