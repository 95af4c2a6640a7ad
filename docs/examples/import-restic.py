#!/usr/bin/env python3
"""Import every snapshot of a restic repository into s3vault (docs/migration.md).

Oldest first, each snapshot is restored into a scratch directory with `restic restore` and
backed up with `s3vault backup --root SCRATCH --time TIME --host HOST`, so the s3vault
snapshot has the restic snapshot's time, host, paths and tags, plus the tag `restic:<short
id>`. Snapshots that already carry that tag are skipped: after an interruption, run it again.
Each import after the first finds the previous one as its parent, so it stores only what
changed.

restic finds its repository and password as usual (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE,
...), s3vault as usual (S3VAULT_REPOSITORY, S3VAULT_PASSWORD_FILE, -P via S3VAULT_PROFILE).

usage: import-restic.py SCRATCH_DIR [RESTIC SNAPSHOT FILTERS, e.g. --host web1]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Stop(Exception):
    """A command failed: what to say, and the exit code to end with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def listing(argv: list[str]) -> list[dict]:
    """The JSON a listing command prints; its own error, said, when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise Stop(f"{' '.join(argv[:2])} failed: {why[0]}", done.returncode)
    return json.loads(done.stdout) or []


def main(scratch: Path, filters: list[str]) -> int:
    try:
        return import_all(scratch, filters)
    except Stop as stop:
        sys.stderr.write(
            f"{stop}; nothing more was imported (run again once it is fixed: what "
            "was imported is skipped)\n"
        )
        return stop.code


def import_all(scratch: Path, filters: list[str]) -> int:
    snapshots = sorted(
        listing(["restic", "snapshots", "--json", *filters]), key=lambda s: s["time"]
    )
    done = {t for s in listing(["s3vault", "--json", "snapshots"]) for t in s["tags"]}
    for snap in snapshots:
        tag = f"restic:{snap['short_id']}"
        if tag in done:
            say(f"{snap['short_id']}: imported before, skipped")
            continue
        target = scratch / snap["short_id"]
        shutil.rmtree(target, ignore_errors=True)
        restore = ["restic", "restore", "--quiet", snap["id"], "--target", str(target)]
        code = subprocess.run(restore, check=False).returncode  # its errors shown as it ran
        if code != 0:  # a damaged pack, say: nothing of this snapshot is imported
            shutil.rmtree(target, ignore_errors=True)
            raise Stop(f"{snap['short_id']}: restic restore failed (exit {code})", code)
        missing = [p for p in snap["paths"] if not os.path.lexists(target / p.lstrip("/"))]
        if missing:  # `cd /srv/site && restic backup .`: restic stores `.` at the root
            shutil.rmtree(target)
            why = (
                "its name is not UTF-8, and restic's JSON spells such bytes as U+FFFD"
                if any("\ufffd" in p for p in missing)
                else "a relative path such as `.` when it was backed up"
            )
            raise Stop(
                f"{snap['short_id']}: restic recorded {', '.join(missing)} but the restored "
                f"snapshot does not hold it there ({why}): import this one by hand "
                "(docs/migration.md)",
                1,
            )
        tags = [a for t in [*snap.get("tags", []), tag] for a in ("--tag", t)]
        backup = ["s3vault", "backup", "--quiet", "--root", str(target), "--time", snap["time"]]
        backup += ["--host", snap["hostname"], *tags, "--", *snap["paths"]]
        code = subprocess.run(backup, check=False).returncode
        shutil.rmtree(target)
        if code not in (0, 3):  # 3: saved, but some files could not be read
            raise Stop(f"{snap['short_id']}: s3vault backup failed (exit {code})", code)
        say(f"{snap['short_id']} ({snap['time'][:19]}, {snap['hostname']}): imported")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
