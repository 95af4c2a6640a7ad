"""Which key file a password is tried on first.

Every key file a password is tried on costs one key derivation (Argon2id: 64 MiB and about
0.5 s by default), and only one of them opens. Key files are listed in name order, which is
random: a repository with a password key and a recovery key derived the recovery key's KDF
first in half of all repositories, on every command; a fleet repository with a put-only key
per host derived one per host key listed before the admin's. So the search goes in this order:

1. the key files whose id starts with the hint: ``--key-hint`` (restic's option), else the key
   that opened this repository last on this host (``<cache dir>/<repo id>/key``, its id only);
2. the key files of the kind the secret is for (a password: password keys; a recovery key file:
   recovery keys), in name order;
3. the other full key files;
4. put-only key files last, and only so that the error can say "this opens a put-only key".

The order changes only the time to open: every key file is still tried before a wrong password
is reported, and the error is the same. The remembered id is no secret (key file names are
listed in the repository); a cache that cannot be read or written costs one derivation, never
the command."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from s3vault.format.keyfile import KeyFile
from s3vault.ids import ObjectId
from s3vault.repository.cache import write_private

_FILE = "key"


@dataclass(frozen=True, slots=True)
class KeyOrder:
    """The order key files are tried in (see the module docstring)."""

    hint: str = ""  # a key id or its prefix, in hex; "" for none
    kind: str = "password"  # the kind of key file the secret is for

    def hinted(self, name: str) -> bool:
        """Whether the key file ``keys/<id>`` is one the hint names."""
        return bool(self.hint) and name.rsplit("/", 1)[-1].startswith(self.hint.lower())

    def names(self, names: list[str]) -> list[str]:
        """``names`` with the hinted ones first (otherwise in their order)."""
        return sorted(names, key=lambda name: not self.hinted(name))

    def later(self, name: str, keyfile: KeyFile) -> bool:
        """Whether this key file waits until the first pass found nothing."""
        if keyfile.put_only:
            return True
        return keyfile.kind != self.kind and not self.hinted(name)

    @staticmethod
    def rank(keyfile: KeyFile) -> int:
        """Of the files that waited: full key files before put-only ones."""
        return 1 if keyfile.put_only else 0


def remembered(cache_dir: Path | None, repo_id: ObjectId) -> str:
    """The id of the key file that opened the repository last on this host ("" if unknown)."""
    if cache_dir is None:
        return ""
    try:
        text = (cache_dir / repo_id.hex() / _FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else ""


def remember(cache_dir: Path | None, repo_id: ObjectId, key_id: ObjectId) -> None:
    """Note the key file that opened the repository (best effort: a cache that cannot be
    written is no error)."""
    if cache_dir is None or remembered(cache_dir, repo_id) == key_id.hex():
        return
    with contextlib.suppress(OSError):
        write_private(cache_dir / repo_id.hex() / _FILE, key_id.hex().encode() + b"\n")
