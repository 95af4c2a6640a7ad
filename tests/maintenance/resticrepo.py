"""A restic repository whose snapshot list the tests write directly, so that the real
``restic forget --dry-run --json`` can be asked about any timeline in a fraction of a second.

``restic init`` makes the repository once; its key file is then replaced by one with cheap
scrypt parameters (restic reads N, r and p from the key file), and snapshot files are written
as restic writes them (restic's design.rst: AES-256-CTR, Poly1305-AES over IV and ciphertext,
the file named by the SHA-256 of its bytes; a repository of version 2 reads uncompressed JSON).
Nothing here is s3vault code: it is the reference the retention policy is checked against.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

RESTIC = shutil.which("restic")
PASSWORD = b"restic reference"
TREE = "0" * 64  # forget never reads trees


def restic_version() -> str:
    """``0.14.0`` or similar; empty without restic."""
    if RESTIC is None:
        return ""
    out = subprocess.run([RESTIC, "version"], capture_output=True, text=True, check=False)
    found = re.search(r"restic (\d+\.\d+\.\d+)", out.stdout)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class _Keys:
    encrypt: bytes
    mac_k: bytes
    mac_r: bytes

    def _mac(self, iv: bytes, ciphertext: bytes) -> bytes:
        aes = Cipher(algorithms.AES(self.mac_k), modes.ECB()).encryptor()
        return Poly1305.generate_tag(self.mac_r + aes.update(iv) + aes.finalize(), ciphertext)

    def seal(self, plaintext: bytes) -> bytes:
        iv = os.urandom(16)
        ctr = Cipher(algorithms.AES(self.encrypt), modes.CTR(iv)).encryptor()
        ciphertext = ctr.update(plaintext) + ctr.finalize()
        return iv + ciphertext + self._mac(iv, ciphertext)

    def open(self, sealed: bytes) -> bytes:
        iv, ciphertext, tag = sealed[:16], sealed[16:-16], sealed[-16:]
        assert self._mac(iv, ciphertext) == tag, "restic MAC mismatch"
        ctr = Cipher(algorithms.AES(self.encrypt), modes.CTR(iv)).decryptor()
        return ctr.update(ciphertext) + ctr.finalize()

    @classmethod
    def derive(cls, salt: bytes, n: int, r: int, p: int, password: bytes = PASSWORD) -> _Keys:
        key = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=1 << 30, dklen=64)
        return cls(key[:32], key[32:48], key[48:])


def cheapen_key(repo: Path, password: bytes) -> _Keys:
    """Replace the one key file of the restic repository ``repo`` by one with cheap scrypt
    parameters (N=1024 instead of restic's calibrated 2^15 × p=5: about 0.3 s of CPU in every
    restic command, which reads N, r and p from the key file); returns the master keys."""
    (old,) = (repo / "keys").iterdir()
    stored = json.loads(old.read_bytes())
    salt = base64.b64decode(stored["salt"])
    user = _Keys.derive(salt, stored["N"], stored["r"], stored["p"], password)
    master = json.loads(user.open(base64.b64decode(stored["data"])))
    new_salt = os.urandom(64)
    cheap = {**stored, "N": 1024, "r": 8, "p": 1, "salt": base64.b64encode(new_salt).decode()}
    sealed = _Keys.derive(new_salt, 1024, 8, 1, password).seal(json.dumps(master).encode())
    cheap["data"] = base64.b64encode(sealed).decode()
    raw = json.dumps(cheap).encode()
    old.unlink()
    (repo / "keys" / hashlib.sha256(raw).hexdigest()).write_bytes(raw)
    return _Keys(
        base64.b64decode(master["encrypt"]),
        base64.b64decode(master["mac"]["k"]),
        base64.b64decode(master["mac"]["r"]),
    )


@dataclass(frozen=True)
class Snap:
    """What the policy looks at."""

    time: datetime
    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]


class ResticRepo:
    """A restic repository in ``path`` whose snapshots are set with ``write``."""

    def __init__(self, path: Path) -> None:
        assert RESTIC is not None
        self.path = path
        self.password_file = path.parent / "restic-password"
        self.password_file.write_bytes(PASSWORD + b"\n")
        self.tz = "UTC"  # restic's local zone (TZ): Go reads the times of its offsets in it
        self.run("init")
        self.keys = cheapen_key(path, PASSWORD)

    def run(self, *args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
        """``restic ARGS`` on this repository (the process must succeed)."""
        assert RESTIC is not None
        env = {**os.environ, "TZ": self.tz, "RESTIC_PASSWORD_FILE": str(self.password_file)}
        env.pop("RESTIC_PASSWORD", None)
        return subprocess.run(
            [RESTIC, "-r", str(self.path), "--no-cache", *(["-q"] if quiet else []), *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )

    def write(self, snaps: list[Snap]) -> None:
        """Make these the repository's snapshots (and nothing else)."""
        folder = self.path / "snapshots"
        for old in folder.iterdir():
            old.unlink()
        for snap in snaps:
            doc = {
                "time": snap.time.isoformat(),
                "tree": TREE,
                "paths": list(snap.paths),
                "hostname": snap.host,
                "username": "test",
                **({"tags": list(snap.tags)} if snap.tags else {}),
            }
            sealed = self.keys.seal(json.dumps(doc).encode())
            (folder / hashlib.sha256(sealed).hexdigest()).write_bytes(sealed)

    def kept(self, flags: list[str]) -> list[Snap]:
        """What ``restic forget --dry-run --json FLAGS`` keeps."""
        out = self.run("forget", "--dry-run", "--json", *flags).stdout
        kept = []
        for group in json.loads(out or "[]"):
            for s in group["keep"] or ():
                kept.append(
                    Snap(
                        time=datetime.fromisoformat(s["time"].replace("Z", "+00:00")),
                        host=s["hostname"],
                        paths=tuple(sorted(s["paths"])),
                        tags=tuple(sorted(s.get("tags") or ())),
                    )
                )
        return kept


if __name__ == "__main__":  # RESTIC_REPOSITORY_DIR PASSWORD_FILE: for the docs pages' shells
    import sys

    cheapen_key(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes().rstrip(b"\n"))
