"""Key files (design.md §6): a master key wrapped under a key-encryption key.

``keys/<key id>`` is plaintext JSON:

    {"v": 1, "id", "kind": "password", "label", "created", "hostname", "username", "repo_id",
     "kdf": {"alg": "argon2id", "memory_kib", "iterations", "lanes", "salt"},
     "wrap": {"alg": "XAES-256-GCM", "nonce", "ct"}}

``ct`` seals the canonical JSON payload ``{"current_epoch": e, "master_keys": {"<epoch>": key}}``
with associated data ``"s3vault-keyfile-v1" | canonical JSON of every other field``, and unknown
fields and any non-canonical encoding are refused, so no byte of the file can be changed
without the key file being rejected. ``mac`` (HMAC-SHA256 under a subkey of the master key, over
every other field) lets anyone holding the master key check key files they cannot unwrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

KEYFILE_VERSION = 1
WRAP_ALG = "XAES-256-GCM"
AAD_PREFIX = b"s3vault-keyfile-v1"
_TOP = frozenset(
    {"v", "id", "repo_id", "kind", "label", "created", "hostname", "username", "kdf", "wrap", "mac"}
)
_KDF = frozenset({"alg", "memory_kib", "iterations", "lanes", "salt"})
_WRAP = frozenset({"alg", "nonce", "ct"})


def _hex(text: object, what: str) -> bytes:
    try:
        return bytes.fromhex(str(text))
    except ValueError:
        msg = f"{what}: bad hex"
        raise IntegrityError(msg) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyFile:
    """One key file."""

    id: ObjectId
    repo_id: ObjectId
    kind: str = "password"
    label: str = ""
    created: str = ""
    hostname: str = ""
    username: str = ""
    kdf_alg: str
    kdf_memory_kib: int
    kdf_iterations: int
    kdf_lanes: int
    kdf_salt: bytes
    wrap_nonce: bytes
    wrap_ct: bytes
    mac: bytes = b""

    def kdf_json(self) -> dict[str, Any]:
        """The kdf object as stored."""
        return {
            "alg": self.kdf_alg,
            "memory_kib": self.kdf_memory_kib,
            "iterations": self.kdf_iterations,
            "lanes": self.kdf_lanes,
            "salt": codec.b64(self.kdf_salt),
        }

    def wrap_aad(self) -> bytes:
        """Associated data binding the wrapped key to every other field of the file."""
        return AAD_PREFIX + codec.dumps(self._fields(wrap=False))

    def mac_input(self) -> bytes:
        """What ``mac`` authenticates: every other byte of the file."""
        return codec.dumps(self._fields(wrap=True))

    def encode(self) -> bytes:
        """JSON bytes."""
        obj = self._fields(wrap=True)
        if self.mac:
            obj["mac"] = self.mac.hex()
        return codec.dumps(obj)

    def _fields(self, *, wrap: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": KEYFILE_VERSION,
            "id": self.id.hex(),
            "repo_id": self.repo_id.hex(),
            "kind": self.kind,
            "label": self.label,
            "created": self.created,
            "hostname": self.hostname,
            "username": self.username,
            "kdf": self.kdf_json(),
        }
        if wrap:
            obj["wrap"] = {
                "alg": WRAP_ALG,
                "nonce": codec.b64(self.wrap_nonce),
                "ct": codec.b64(self.wrap_ct),
            }
        return obj

    @classmethod
    def decode(cls, data: bytes) -> KeyFile:
        """Parse a key file.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer key file version.
        """
        what = "key file"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), KEYFILE_VERSION, what)
        kdf = codec.field(obj, "kdf", dict, what)
        wrap = codec.field(obj, "wrap", dict, what)
        for part, allowed in ((obj, _TOP), (kdf, _KDF), (wrap, _WRAP)):
            if not set(part) <= allowed:
                msg = f"{what}: unknown fields {sorted(set(part) - allowed)}"
                raise IntegrityError(msg)
        if wrap.get("alg") != WRAP_ALG:
            msg = f"{what}: unsupported wrapping {wrap.get('alg')!r}"
            raise IntegrityError(msg)
        try:
            key_id = ObjectId(bytes.fromhex(codec.field(obj, "id", str, what)))
            repo_id = ObjectId(bytes.fromhex(codec.field(obj, "repo_id", str, what)))
        except ValueError:
            msg = f"{what}: bad id"
            raise IntegrityError(msg) from None
        keyfile = cls(
            id=key_id,
            repo_id=repo_id,
            kind=str(obj.get("kind", "password")),
            label=str(obj.get("label", "")),
            created=str(obj.get("created", "")),
            hostname=str(obj.get("hostname", "")),
            username=str(obj.get("username", "")),
            kdf_alg=codec.field(kdf, "alg", str, what),
            kdf_memory_kib=codec.field(kdf, "memory_kib", int, what),
            kdf_iterations=codec.field(kdf, "iterations", int, what),
            kdf_lanes=codec.field(kdf, "lanes", int, what),
            kdf_salt=codec.unb64(codec.field(kdf, "salt", str, what), what),
            wrap_nonce=codec.unb64(codec.field(wrap, "nonce", str, what), what),
            wrap_ct=codec.unb64(codec.field(wrap, "ct", str, what), what),
            mac=_hex(obj.get("mac", ""), what),
        )
        if keyfile.encode() != data:  # e.g. upper-case hex or stray base64 bits
            msg = f"{what}: not in canonical form (modified?)"
            raise IntegrityError(msg)
        return keyfile


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPayload:
    """What a key file wraps: the master key of each live epoch."""

    current_epoch: int
    master_keys: dict[int, bytes]

    def __repr__(self) -> str:  # never show key material
        return f"KeyPayload(current_epoch={self.current_epoch}, epochs={sorted(self.master_keys)})"

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        return codec.dumps(
            {
                "current_epoch": self.current_epoch,
                "master_keys": {str(k): codec.b64(v) for k, v in self.master_keys.items()},
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> KeyPayload:
        """Parse.

        Raises:
            IntegrityError: malformed.
        """
        what = "key payload"
        obj = codec.loads(data, what)
        keys = codec.field(obj, "master_keys", dict, what)
        try:
            master = {int(k): codec.unb64(v, what) for k, v in keys.items()}
        except (ValueError, TypeError):
            msg = f"{what}: bad epoch"
            raise IntegrityError(msg) from None
        current = codec.field(obj, "current_epoch", int, what)
        if current not in master:
            msg = f"{what}: current epoch has no key"
            raise IntegrityError(msg)
        return cls(current_epoch=current, master_keys=master)
