"""Known repositories: which repository id this host found at each location (like ssh's
known_hosts), kept in the cache directory. A different repository placed at a location this
host used before (a swapped bucket prefix, a restored-over directory, a repository that shares
the password) is refused before anything is read from or written to it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from s3vault.errors import IntegrityError
from s3vault.ids import ObjectId

log = logging.getLogger(__name__)

FILE = "known-repositories.json"


def _is_id(text: str) -> bool:
    """A repository id as this file records one: 64 lowercase hex digits."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class KnownRepositories:
    """location → repository id, in ``<cache dir>/known-repositories.json``."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / FILE if cache_dir else None
        self._said = False

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._damaged(str(getattr(exc, "strerror", None) or exc))
            return {}
        if not isinstance(data, dict):
            self._damaged(f"a JSON {type(data).__name__}, not an object")
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def _damaged(self, why: str) -> None:
        """Said once: the locations the file knew are not checked (a replaced repository at
        one of them would go unnoticed), and the file is written again with this one."""
        if not self._said:
            self._said = True
            log.warning(
                "%s cannot be read (%s): the repositories it knew are not checked this time; it"
                " is written again",
                self.path,
                why,
            )

    def check(self, location: str, repo_id: ObjectId) -> None:
        """Refuse a repository that is not the one this host knew at this location.

        Raises:
            IntegrityError: another repository id than before.
        """
        known = self._read().get(location)
        if known is not None and not _is_id(known):  # a damaged line: no id to compare
            log.warning("%s: the line of %s holds no repository id; ignored", self.path, location)
            return
        if known is not None and known != repo_id.hex():
            now = repo_id.hex()
            width = next((n for n in (8, 16, 32) if known[:n] != now[:n]), 64)
            msg = (
                f"the repository at {location} is not the one this host used before (id "
                f"{known[:width]}, now {now[:width]}): it was replaced, or the location points "
                f"elsewhere; s3vault stopped before using it. If the change is intended, remove "
                f"its line from {self.path}"
            )
            raise IntegrityError(msg)

    def remember(self, location: str, repo_id: ObjectId) -> None:
        """Record the repository at a location (best effort: a read-only cache is no error)."""
        if self.path is None:
            return
        known = self._read()
        if known.get(location) == repo_id.hex():
            return
        known[location] = repo_id.hex()
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
            os.chmod(tmp, 0o600)
            tmp.replace(self.path)
        except OSError as exc:
            log.info("cannot remember the repository at %s in %s: %s", location, self.path, exc)
            with contextlib.suppress(OSError):  # read-only: even this unlink fails (EROFS)
                tmp.unlink(missing_ok=True)
