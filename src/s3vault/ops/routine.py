"""A profile's routine (``s3vault run NAME``, docs/config.md): which commands it runs, in
which order, and which hook follows.

The routine is a list of CLI commands, each run as its own process by the CLI (one audit record,
one metrics file entry and one exit code per step, as if cron had run them one after another):
backup of the profile's paths; forget by its ``retention`` table, with ``--prune`` if the table
says so; verify (its read-data subset, if any); a restore drill of this host's latest snapshot if
the profile has a ``restore_test`` table. The routine exits with the most severe code of its
steps (errors.worst); after them the ``after`` hook runs on success (0 or 3), ``on_failure``
otherwise, and a ``before`` hook that fails skips every step. A backup that fails (an exit code
other than 0 or 3: a partial backup goes on) ends the routine: forgetting, verifying and
drilling a repository this run could not back up to proves nothing new and may hide the
failure behind later successes. An interrupted step (130) ends it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.errors import ExitCode, UsageError
from s3vault.ops.profiles import Profile

# restore_test settings and the restore-test options that carry them
_DRILL_FLAGS = (
    ("sample", "--sample"),
    ("sample_percent", "--sample-percent"),
    ("rto_target", "--rto-target"),
    ("rpo_target", "--rpo-target"),
)
SUCCESS = (ExitCode.OK, ExitCode.PARTIAL)


@dataclass(frozen=True, slots=True)
class Hook:
    """A shell command the profile runs around its routine."""

    which: str  # before | after | on_failure
    command: str


def steps(profile: Profile, host: str) -> list[list[str]]:
    """The commands of ``profile``'s routine, each as CLI arguments after the global options.
    ``host`` is the host whose latest snapshot the drill restores (the profile's ``host``, else
    this machine's name: not whichever host backed up last)."""
    routine = [["backup"]]
    retention = profile.table("retention")
    if retention:
        routine.append(["forget", *(["--prune"] if retention.get("prune") else [])])
    subset = profile.table("verify").get("read_data_subset")
    routine.append(["verify", *(["--read-data-subset", str(subset)] if subset else [])])
    drill = profile.table("restore_test")
    if drill:
        step = ["restore-test", "--host", profile.get("host") or host]
        for key, flag in _DRILL_FLAGS:
            if key in drill:
                step += [flag, str(drill[key])]
        routine.append(step)
    return routine


def check_tables(profile: Profile) -> None:
    """What the library reads of the routine's tables, read now (``run`` asks before its first
    step; each value was found wrong only by its step, after the backup had run): the
    ``[retention]`` rules and group_by, and ``[verify]`` read_data_subset.

    Raises:
        UsageError: naming the config file, the profile and the value.
    """
    from s3vault.checker.selection import PackSelection
    from s3vault.ops.forget import ForgetOptions

    where = f"{profile.source}: profile {profile.name!r}"
    subset = profile.table("verify").get("read_data_subset")
    try:
        ForgetOptions().with_profile(profile)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    try:
        if subset:
            PackSelection.parse(str(subset))
    except UsageError as exc:
        raise UsageError(f"{where}: [verify] read_data_subset: {exc}") from None


def goes_on(step: list[str], exit_code: int) -> bool:
    """Whether the routine runs its next step after ``step`` exited with ``exit_code``."""
    if exit_code == ExitCode.INTERRUPTED:
        return False
    return not (step[0] == "backup" and exit_code not in SUCCESS)


def before_hook(profile: Profile) -> Hook | None:
    """The hook to run before the first step, if the profile has one."""
    command = profile.table("hooks").get("before")
    return Hook("before", command) if command else None


def final_hook(profile: Profile, exit_code: int) -> Hook | None:
    """The hook that follows a routine that exited with ``exit_code``: ``after`` on success
    (0 or 3), ``on_failure`` otherwise; None if the profile has no such hook."""
    hooks = profile.table("hooks")
    which = "after" if exit_code in SUCCESS else "on_failure"
    command = hooks.get(which)
    return Hook(which, command) if command else None
