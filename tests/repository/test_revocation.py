"""Revocation by store time (design.md §6a, repository/writerhost.py): the rule and its margin,
and the config field that records the removal. The scenario through the CLI is
tests/cli/test_putonly_revocation.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from s3vault.errors import IntegrityError, RevokedWriterError
from s3vault.format.configfile import ConfigFile, KeyEpoch
from s3vault.ids import ObjectId
from s3vault.repository.writerhost import REVOCATION_MARGIN, check_store_time

KEY = bytes(range(32))
REMOVED = 1_800_000_000.0
CONFIG = ConfigFile(
    repo_id=ObjectId(b"\7" * 32),
    epochs=(KeyEpoch(epoch=1, check=b"\1" * 32),),
    revoked={KEY.hex(): "web-01"},
    revoked_at={KEY.hex(): REMOVED},
)


def test_an_object_stored_within_the_margin_is_accepted_and_one_later_refused() -> None:
    for at in (REMOVED - 86400, REMOVED, REMOVED + REVOCATION_MARGIN):
        check_store_time(CONFIG, KEY, lambda at=at: at, "a snapshot")
    with pytest.raises(RevokedWriterError) as refused:
        check_store_time(CONFIG, KEY, lambda: REMOVED + REVOCATION_MARGIN + 1, "a snapshot")
    message = str(refused.value)
    assert f"put-only key {KEY.hex()[:8]} of host 'web-01'" in message and "forged" in message
    assert isinstance(refused.value, IntegrityError)  # every reader's damage handling applies


def test_the_store_time_is_asked_only_for_a_removed_key_with_a_time() -> None:
    def no_request() -> float:
        raise AssertionError("the store time was asked")

    check_store_time(CONFIG, b"\0" * 32, no_request, "an index file")  # not removed
    # removed by a build from before revoked_at: only the host binding check applies
    check_store_time(replace(CONFIG, revoked_at={}), KEY, no_request, "an index file")


def test_the_removal_time_round_trips_and_a_malformed_one_is_damage() -> None:
    assert ConfigFile.decode(CONFIG.encode()) == CONFIG
    assert b"revoked_at" not in replace(CONFIG, revoked_at={}).encode()  # older configs as before
    raw = json.loads(CONFIG.encode())
    raw["revoked_at"] = {KEY.hex(): {"t": 1}}
    with pytest.raises(IntegrityError, match="config"):
        ConfigFile.decode(json.dumps(raw).encode())
