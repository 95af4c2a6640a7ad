"""Which key file a password is tried on first.

Every key file a password is tried on costs one key derivation (Argon2id: 32 MiB and about
0.15 s by default), and only one of them opens. Key files are listed in name order, which is
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
from dataclasses import dataclass, replace
from pathlib import Path

from s3vault.format.keyfile import KeyFile
from s3vault.ids import ID_SIZE, ObjectId, is_hex
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


class KeyMemory:
    """The key file that opened a repository last on this host: read once when the repository
    is opened, written only when another key opened it (best effort: a cache that cannot be
    read or written costs one derivation, never the command)."""

    def __init__(self, cache_dir: Path | None, repo_id: ObjectId) -> None:
        self._path = cache_dir / repo_id.hex() / _FILE if cache_dir is not None else None
        self.known = ""
        if self._path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = self._path.read_text(encoding="ascii").strip()
                self.known = text if len(text) == 2 * ID_SIZE and is_hex(text) else ""

    def order(self, order: KeyOrder | None) -> KeyOrder:
        """``order`` (the default one if None), hinting at the remembered key unless it hints
        at a key of its own."""
        order = order or KeyOrder()
        return order if order.hint else replace(order, hint=self.known)

    def opened(self, key_id: ObjectId) -> None:
        """The key file ``key_id`` opened the repository: remember it."""
        if self._path is not None and key_id.hex() != self.known:
            with contextlib.suppress(OSError):
                write_private(self._path, key_id.hex().encode() + b"\n")
