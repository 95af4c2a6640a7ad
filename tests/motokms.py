"""moto 5.2.5's KMS cannot decrypt under a multi-region key: its (moto-only) ciphertext header
holds 36 bytes of key id and a multi-region key's id ("mrk-" + a UUID) has 40, so Decrypt
answers AccessDenied. This widens the header of the moto servers in this process to 40 bytes
(NUL-padded), so a multi-region key and its replicas decrypt as on AWS (a replica holds the
primary's key material: moto's replicate_key copies it). Everything else in moto's KMS is
unchanged; ciphertexts never outlive the test session."""

from __future__ import annotations

import struct

_installed = False


def install_moto_kms_fix() -> None:
    """Patch moto.kms.utils once per process."""
    global _installed  # noqa: PLW0603 - patched once per process
    if _installed:
        return
    from moto.kms import utils

    width = 40
    header = f">{width}s{utils.IV_LEN}s{utils.TAG_LEN}s"
    header_len = width + utils.IV_LEN + utils.TAG_LEN

    def serialize(ciphertext: utils.Ciphertext) -> bytes:
        key_id = ciphertext.key_id.encode("utf-8")
        return struct.pack(header, key_id, ciphertext.iv, ciphertext.tag) + ciphertext.ciphertext

    def deserialize(ciphertext_blob: bytes) -> utils.Ciphertext:  # moto's keyword
        blob = ciphertext_blob
        key_id, iv, tag = struct.unpack(header, blob[:header_len])
        return utils.Ciphertext(
            key_id=key_id.rstrip(b"\0").decode("utf-8"),
            iv=iv,
            ciphertext=blob[header_len:],
            tag=tag,
        )

    utils._serialize_ciphertext_blob = serialize
    utils._deserialize_ciphertext_blob = deserialize
    _installed = True
