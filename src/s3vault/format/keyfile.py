"""Key files (design.md §6): one per password, recovery secret or KMS key.

``keys/<key id>`` is plaintext JSON:

    {"v": 2, "id", "repo_id", "kind": "password" | "recovery" | "kms", "label", "created",
     "hostname", "username", "public": <X25519 public key>,
     "kdf": {"alg": "argon2id", "memory_kib", "iterations", "lanes", "salt"},   (password, recovery)
     "wrap": {"alg": "XAES-256-GCM", "nonce", "ct"},                           (password, recovery)
     "kms": {"key_id": <KMS key ARN>, "ct": <KMS ciphertext blob>},             (kms)
     "payload": {"alg": "X25519-HKDF-SHA256-XAES-256-GCM", "epk", "nonce", "ct"},
     "mac": <hex>}

Two layers. The key file's own X25519 private key is wrapped under its secret: ``wrap`` seals
it under the Argon2id KEK of a password (or recovery secret), ``kms`` holds it encrypted by AWS
KMS. The master keys (``KeyPayload``) are sealed to the public key in ``payload``. Whoever holds
the master keys can therefore re-seal the payload of *every* key file without knowing their
passwords: that is how ``key rotate-master`` adds an epoch and how a retired epoch is dropped.

Associated data: ``wrap`` and ``kms`` bind every field except payload and MAC
(``secret_aad``); ``payload`` binds every field except itself and the MAC (``payload_aad``);
``mac`` (HMAC-SHA256 under a subkey of the identity secret, which no rotation changes) covers
every other byte, so anyone holding the master keys can check key files they cannot open. Unknown
fields and non-canonical encodings are refused.

A put-only key file (design.md §6a) has ``"v": 3`` and ``access`` (``put-only``), ``host`` and
``group``; its wrapped secret is the private key followed by the repository's signing key Σ
(pinned), and its payload is a PutOnlyPayload (format/putpayload.py). s3vault releases that read
only version 2 refuse it as newer, so none takes a put-only key for a full one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

KEYFILE_VERSION = 2
PUT_ONLY_VERSION = 3  # key files of access "put-only" (design.md §6a)
PUT_ONLY = "put-only"
WRAP_ALG = "XAES-256-GCM"
PAYLOAD_ALG = "X25519-HKDF-SHA256-XAES-256-GCM"
KINDS = ("password", "recovery", "kms")
_TOP = frozenset(
    {
        "v",
        "id",
        "repo_id",
        "kind",
        "label",
        "created",
        "hostname",
        "username",
        "public",
        "kdf",
        "wrap",
        "kms",
        "payload",
        "mac",
        "access",
        "host",
        "group",
    }
)
_KDF = frozenset({"alg", "memory_kib", "iterations", "lanes", "salt"})
_WRAP = frozenset({"alg", "nonce", "ct"})
_KMS = frozenset({"key_id", "ct"})
_PAYLOAD = frozenset({"alg", "epk", "nonce", "ct"})


def _hex(text: object, what: str) -> bytes:
    try:
        return bytes.fromhex(str(text))
    except ValueError:
        msg = f"{what}: bad hex"
        raise IntegrityError(msg) from None


def _only(part: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    if not set(part) <= allowed:
        msg = f"{what}: unknown fields {sorted(set(part) - allowed)}"
        raise IntegrityError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class KdfSpec:
    """Argon2id parameters of a password or recovery key file."""

    alg: str
    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return {
            "alg": self.alg,
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
            "salt": codec.b64(self.salt),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sealed:
    """A ciphertext with its nonce (and, for a payload, the sender's ephemeral public key)."""

    nonce: bytes
    ct: bytes
    epk: bytes = b""


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
    public: bytes
    kdf: KdfSpec | None = None  # password / recovery
    wrap: Sealed | None = None  # the private key under the KEK
    kms_key_id: str = ""  # kms
    kms_ct: bytes = b""  # the private key, encrypted by KMS
    payload: Sealed | None = None
    mac: bytes = b""
    access: str = "full"  # or "put-only" (design.md §6a)
    host: str = ""  # put-only: the one host name it writes snapshots for
    group: str = ""  # put-only: its dedup group ("" is the repository's)

    @property
    def put_only(self) -> bool:
        """May this key only write (design.md §6a)?"""
        return self.access == PUT_ONLY

    def _head(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": PUT_ONLY_VERSION if self.put_only else KEYFILE_VERSION,
            "id": self.id.hex(),
            "repo_id": self.repo_id.hex(),
            "kind": self.kind,
            "label": self.label,
            "created": self.created,
            "hostname": self.hostname,
            "username": self.username,
            "public": codec.b64(self.public),
        }
        if self.put_only:
            obj.update(access=self.access, host=self.host, group=self.group)
        if self.kdf is not None:
            obj["kdf"] = self.kdf.to_json()
        if self.kms_key_id:
            obj["kms"] = {"key_id": self.kms_key_id}
        return obj

    def _with_secret(self) -> dict[str, Any]:
        obj = self._head()
        if self.wrap is not None:
            obj["wrap"] = {
                "alg": WRAP_ALG,
                "nonce": codec.b64(self.wrap.nonce),
                "ct": codec.b64(self.wrap.ct),
            }
        if self.kms_key_id:
            obj["kms"] = {"key_id": self.kms_key_id, "ct": codec.b64(self.kms_ct)}
        return obj

    def _with_payload(self) -> dict[str, Any]:
        obj = self._with_secret()
        if self.payload is not None:
            obj["payload"] = {
                "alg": PAYLOAD_ALG,
                "epk": codec.b64(self.payload.epk),
                "nonce": codec.b64(self.payload.nonce),
                "ct": codec.b64(self.payload.ct),
            }
        return obj

    def secret_aad(self) -> bytes:
        """Associated data of the wrapped private key (and the KMS encryption context's
        source): every field but the secret itself, the payload and the MAC."""
        return b"s3vault-keyfile-v2/private" + codec.dumps(self._head())

    def payload_aad(self) -> bytes:
        """Associated data of the payload: every field but the payload and the MAC."""
        return b"s3vault-keyfile-v2/payload" + codec.dumps(self._with_secret())

    def mac_input(self) -> bytes:
        """What ``mac`` authenticates: every other byte of the file."""
        return codec.dumps(self._with_payload())

    def encode(self) -> bytes:
        """JSON bytes."""
        obj = self._with_payload()
        obj["mac"] = self.mac.hex()
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> KeyFile:
        """Parse a key file.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer key file version.
        """
        what = "key file"
        obj = codec.loads(data, what)
        if obj.get("v") == 1:
            msg = (
                "key file version 1 was written by a development build of s3vault from before "
                "key rotation (no release wrote it): re-create the repository"
            )
            raise FormatVersionError(msg)
        version = codec.check_version(obj.get("v"), PUT_ONLY_VERSION, what)
        _only(obj, _TOP, what)
        access, host, group = _access(obj, version, what)
        kind = codec.field(obj, "kind", str, what)
        if kind not in KINDS:
            msg = f"{what}: unknown kind {kind!r}"
            raise IntegrityError(msg)
        kdf = wrap = None
        kms_key_id, kms_ct = "", b""
        if kind == "kms":
            kms = codec.field(obj, "kms", dict, what)
            _only(kms, _KMS, what)
            kms_key_id = codec.field(kms, "key_id", str, what)
            kms_ct = codec.unb64(codec.field(kms, "ct", str, what), what)
        else:
            kdf, wrap = _password_wrapping(obj, what)
        p = codec.field(obj, "payload", dict, what)
        _only(p, _PAYLOAD, what)
        if p.get("alg") != PAYLOAD_ALG:
            msg = f"{what}: unsupported payload sealing {p.get('alg')!r}"
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
            kind=kind,
            label=str(obj.get("label", "")),
            created=str(obj.get("created", "")),
            hostname=str(obj.get("hostname", "")),
            username=str(obj.get("username", "")),
            public=codec.unb64(codec.field(obj, "public", str, what), what),
            kdf=kdf,
            wrap=wrap,
            kms_key_id=kms_key_id,
            kms_ct=kms_ct,
            payload=Sealed(
                epk=codec.unb64(codec.field(p, "epk", str, what), what),
                nonce=codec.unb64(codec.field(p, "nonce", str, what), what),
                ct=codec.unb64(codec.field(p, "ct", str, what), what),
            ),
            mac=_hex(codec.field(obj, "mac", str, what), what),
            access=access,
            host=host,
            group=group,
        )
        if keyfile.encode() != data:  # e.g. upper-case hex or stray base64 bits
            msg = f"{what}: not in canonical form (modified?)"
            raise IntegrityError(msg)
        return keyfile


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPayload:
    """What a key file's payload holds: the identity secret (blob ids and the chunker, fixed
    for the life of the repository) and the master key of each live epoch. Which epoch is
    current is the config's to say."""

    identity: bytes
    master_keys: dict[int, bytes]

    def __repr__(self) -> str:  # never show key material
        return f"KeyPayload(epochs={sorted(self.master_keys)})"

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        return codec.dumps(
            {
                "identity": codec.b64(self.identity),
                "master_keys": {str(k): codec.b64(v) for k, v in self.master_keys.items()},
            }
        )

    def only(self, epochs: set[int] | frozenset[int]) -> KeyPayload:
        """The same payload holding only the given epochs."""
        keys = {e: k for e, k in self.master_keys.items() if e in epochs}
        return KeyPayload(identity=self.identity, master_keys=keys)

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
        if not master:
            msg = f"{what}: no master key"
            raise IntegrityError(msg)
        identity = codec.unb64(codec.field(obj, "identity", str, what), what)
        return cls(identity=identity, master_keys=master)


def _password_wrapping(obj: dict[str, Any], what: str) -> tuple[KdfSpec, Sealed]:
    """The KDF parameters and the wrapped private key of a password or recovery key file.

    Raises:
        IntegrityError: malformed, or an unsupported wrapping.
    """
    k = codec.field(obj, "kdf", dict, what)
    w = codec.field(obj, "wrap", dict, what)
    _only(k, _KDF, what)
    _only(w, _WRAP, what)
    if w.get("alg") != WRAP_ALG:
        msg = f"{what}: unsupported wrapping {w.get('alg')!r}"
        raise IntegrityError(msg)
    kdf = KdfSpec(
        alg=codec.field(k, "alg", str, what),
        memory_kib=codec.field(k, "memory_kib", int, what),
        iterations=codec.field(k, "iterations", int, what),
        lanes=codec.field(k, "lanes", int, what),
        salt=codec.unb64(codec.field(k, "salt", str, what), what),
    )
    wrap = Sealed(
        nonce=codec.unb64(codec.field(w, "nonce", str, what), what),
        ct=codec.unb64(codec.field(w, "ct", str, what), what),
    )
    return kdf, wrap


def _access(obj: dict[str, Any], version: int, what: str) -> tuple[str, str, str]:
    """(access, host, group) of a key file: version 2 is a full key and names none of them,
    version 3 is a put-only key bound to a host (design.md §6a).

    Raises:
        IntegrityError: the version and the fields disagree.
    """
    named = {"access", "host", "group"} & set(obj)
    if version < PUT_ONLY_VERSION:
        if named:
            msg = f"{what}: version {version} has no {sorted(named)}"
            raise IntegrityError(msg)
        return "full", "", ""
    access = codec.field(obj, "access", str, what)
    host = codec.field(obj, "host", str, what)
    group = codec.field(obj, "group", str, what)
    if access != PUT_ONLY or not host:
        msg = f"{what}: version {version} is a put-only key bound to a host"
        raise IntegrityError(msg)
    return access, host, group
