"""A recovery key is shown once, on standard output, and kept nowhere: a key file stored for
a secret nobody saw (stdout closed, a reader gone, a full disk) would be a key that opens the
repository for whoever finds the secret later and for no one who needs it. So a command that
makes one refuses a closed stdout before it changes anything, and removes the key file again
when the secret did not get out."""

from __future__ import annotations

from s3vault import Repository, S3VaultError, UsageError, remove_key
from s3vault.cli import streams


def require_stdout(command: str, way_around: str = "") -> None:
    """Refuse to make a recovery key when stdout was closed at start (``way_around``: the
    option that makes none, where the command has one).

    Raises:
        UsageError: it was.
    """
    if 1 in streams.CLOSED_AT_START:
        alternative = f" or pass {way_around}" if way_around else ""
        msg = (
            f"{command} shows the recovery key once, on standard output, and standard output "
            f"is closed: redirect it (`> recovery.txt`){alternative}"
        )
        raise UsageError(msg)


def confirm_shown(repo: Repository, key_id: str) -> None:
    """After the recovery key was written to stdout: if the write did not get out, remove its
    key file and say so.

    Raises:
        S3VaultError: it did not (exit 1).
    """
    why = streams.lost(1)
    if why is None:
        return
    remove_key(repo, key_id, force=True)
    msg = (
        f"the recovery key could not be written to standard output ({why}): its key file "
        f"{key_id[:8]} was removed again, so no key exists that nobody saw; the repository "
        "opens with its password; `s3vault key add --recovery` makes another"
    )
    raise S3VaultError(msg)
