"""Cryptographic primitives: bytes in, bytes out. Nothing here knows repository objects.

- aead: XAES-256-GCM seal/open (C2SP), 192-bit random nonces, no per-key message budget to track.
- kdf: password → key-encryption key with Argon2id.
- keys: the master key and the subkeys derived from it.
- hashing: keyed BLAKE3 blob ids and plain BLAKE3 storage ids.
- sealbox: sealing to a key file's X25519 public key (key-file payloads).
- putseal: sealing to the repository's public key with a writer's psk (put-only keys).
"""
