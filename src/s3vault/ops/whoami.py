"""Who runs an operation, for the records that name a user (snapshots, audit records, key
files, init and put-only host records)."""

from __future__ import annotations

import getpass


def user_name() -> str:
    """The user's name as ``getpass`` finds it (``$LOGNAME``, ``$USER``, ``$LNAME``,
    ``$USERNAME``, then the password database); empty when none of them knows this process's
    user, as for a container's arbitrary uid that has no passwd entry (restic records no name
    then too). getpass raised KeyError there, after a backup had stored all its data."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # OSError: Python 3.13's getuser
        return ""
