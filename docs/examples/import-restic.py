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


def main(scratch: Path, filters: list[str]) -> int:
    listed = subprocess.run(
        ["restic", "snapshots", "--json", *filters], check=True, capture_output=True, text=True
    )
    snapshots = sorted(json.loads(listed.stdout) or [], key=lambda s: s["time"])
    ours = subprocess.run(
        ["s3vault", "--json", "snapshots"], check=True, capture_output=True, text=True
    )
    done = {t for s in json.loads(ours.stdout) for t in s["tags"]}
    for snap in snapshots:
        tag = f"restic:{snap['short_id']}"
        if tag in done:
            say(f"{snap['short_id']}: imported before, skipped")
            continue
        target = scratch / snap["short_id"]
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            ["restic", "restore", "--quiet", snap["id"], "--target", str(target)], check=True
        )
        missing = [p for p in snap["paths"] if not os.path.lexists(target / p.lstrip("/"))]
        if missing:  # `cd /srv/site && restic backup .`: restic stores `.` at the root
            shutil.rmtree(target)
            sys.stderr.write(
                f"{snap['short_id']}: restic recorded {', '.join(missing)} but the restored "
                "snapshot does not hold it there (a relative path such as `.` when it was "
                "backed up): nothing was imported; import this one by hand "
                "(docs/migration.md)\n"
            )
            return 1
        tags = [a for t in [*snap.get("tags", []), tag] for a in ("--tag", t)]
        backup = ["s3vault", "backup", "--quiet", "--root", str(target), "--time", snap["time"]]
        backup += ["--host", snap["hostname"], *tags, "--", *snap["paths"]]
        code = subprocess.run(backup, check=False).returncode
        shutil.rmtree(target)
        if code not in (0, 3):  # 3: saved, but some files could not be read
            sys.stderr.write(f"{snap['short_id']}: s3vault backup failed (exit {code})\n")
            return code
        say(f"{snap['short_id']} ({snap['time'][:19]}, {snap['hostname']}): imported")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
