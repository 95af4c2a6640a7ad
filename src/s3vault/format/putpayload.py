"""The payload of a put-only key file (design.md §6a): what a backup host that may write but
not read is given. Sealed to the key file's public key like every payload (§6), and signed by
the repository's signing key σ, which the key file pins under its secret: anyone can seal to a
public key, only a full key can sign.

    {"epochs": {"<epoch>": {"public": X_e, "view": V_e}}, "writer": W_k, "id_key": K_id,
     "chunker_seed": int, "audit_tag": hex, "sig": Ed25519 signature}

The signature covers ``"s3vault-putonly-v1/payload" ‖ repository id ‖ key id ‖`` the canonical
JSON of every field but ``sig`` (``signed_message``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec

SIG_DOMAIN = b"s3vault-putonly-v1/payload"
_FIELDS = frozenset({"epochs", "writer", "id_key", "chunker_seed", "audit_tag", "sig"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PutEpoch:
    """One live key epoch as a put-only key sees it: the public key it seals to and the view
    key of the dedup view."""

    public: bytes
    view: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PutOnlyPayload:
    """What a put-only key file's payload holds. ``sig`` is empty until signed."""

    epochs: dict[int, PutEpoch]
    writer: bytes
    id_key: bytes
    chunker_seed: int
    audit_tag: str
    sig: bytes = b""

    def __repr__(self) -> str:  # never show key material
        return f"PutOnlyPayload(epochs={sorted(self.epochs)}, audit_tag={self.audit_tag})"

    def _body(self) -> dict[str, Any]:
        return {
            "epochs": {
                str(e): {"public": codec.b64(k.public), "view": codec.b64(k.view)}
                for e, k in sorted(self.epochs.items())
            },
            "writer": codec.b64(self.writer),
            "id_key": codec.b64(self.id_key),
            "chunker_seed": self.chunker_seed,
            "audit_tag": self.audit_tag,
        }

    def signed_message(self, repo_id: bytes, key_id: bytes) -> bytes:
        """What ``sig`` signs: the domain, the repository and key file ids, every other field."""
        return SIG_DOMAIN + repo_id + key_id + codec.dumps(self._body())

    def with_sig(self, sig: bytes) -> PutOnlyPayload:
        """The same payload carrying a signature."""
        return replace(self, sig=sig)

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        return codec.dumps({**self._body(), "sig": codec.b64(self.sig)})

    @classmethod
    def decode(cls, data: bytes) -> PutOnlyPayload:
        """Parse (the signature is the caller's to check).

        Raises:
            IntegrityError: malformed, or not in canonical form.
        """
        what = "put-only key payload"
        obj = codec.loads(data, what)
        if set(obj) != _FIELDS:
            msg = f"{what}: expected the fields {sorted(_FIELDS)}, found {sorted(obj)}"
            raise IntegrityError(msg)
        try:
            epochs = {
                int(e): PutEpoch(
                    public=codec.unb64(codec.field(k, "public", str, what), what),
                    view=codec.unb64(codec.field(k, "view", str, what), what),
                )
                for e, k in codec.field(obj, "epochs", dict, what).items()
            }
        except (ValueError, TypeError, AttributeError):
            msg = f"{what}: bad epochs"
            raise IntegrityError(msg) from None
        if not epochs:
            msg = f"{what}: no key epoch"
            raise IntegrityError(msg)
        payload = cls(
            epochs=epochs,
            writer=codec.unb64(codec.field(obj, "writer", str, what), what),
            id_key=codec.unb64(codec.field(obj, "id_key", str, what), what),
            chunker_seed=codec.field(obj, "chunker_seed", int, what),
            audit_tag=codec.field(obj, "audit_tag", str, what),
            sig=codec.unb64(codec.field(obj, "sig", str, what), what),
        )
        if payload.encode() != data:
            msg = f"{what}: not in canonical form"
            raise IntegrityError(msg)
        return payload
