"""The put-only host's record of its own packs (maintenance/putlocks.py): it round-trips, and
a damaged or planted record is no record (the host then trusts no blob of its state)."""

from __future__ import annotations

import os

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.maintenance.putlocks import MAGIC, decode_own_packs, encode_own_packs


def _id() -> ObjectId:
    return ObjectId(os.urandom(32))


def test_own_packs_record_round_trips() -> None:
    p1, p2 = _id(), _id()
    own = {(BlobType.DATA, os.urandom(32)): p1 for _ in range(3)}
    own[BlobType.TREE, os.urandom(32)] = p2
    assert decode_own_packs(encode_own_packs(own)) == own
    assert decode_own_packs(encode_own_packs({})) == {}


def test_a_damaged_own_packs_record_is_no_record() -> None:
    own = {(BlobType.DATA, os.urandom(32)): _id(), (BlobType.TREE, os.urandom(32)): _id()}
    data = encode_own_packs(own)
    assert decode_own_packs(b"planted") == {}
    assert decode_own_packs(b"S3VP\x02" + data[len(MAGIC) :]) == {}  # another version
    for cut in (len(data) - 1, len(data) - 33, len(MAGIC) + 10, len(MAGIC) + 35):
        assert decode_own_packs(data[:cut]) == {}, cut
    bad_type = bytearray(data)
    bad_type[len(MAGIC) + 36] = 9
    assert decode_own_packs(bytes(bad_type)) == {}
