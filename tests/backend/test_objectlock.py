"""LockPolicy as the config keeps it, and which objects are locked and deleted by version."""

from __future__ import annotations

import pytest

from s3vault.backend.objectlock import UNLOCKED_PREFIXES, VERSION_DELETED, LockPolicy


def test_lock_policy_round_trips_through_the_config() -> None:
    policy = LockPolicy(mode="COMPLIANCE", period=30 * 86400, margin=7 * 86400)
    assert LockPolicy.from_dict(policy.to_dict()) == policy
    assert policy.duration == 37 * 86400


def test_lock_policy_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown object lock mode 'LEGAL'"):
        LockPolicy.from_dict({"mode": "LEGAL", "period": 1, "margin": 1})


def test_unlocked_and_version_deleted_objects_are_apart() -> None:
    assert not set(UNLOCKED_PREFIXES) & set(VERSION_DELETED)
    assert "locks/" in UNLOCKED_PREFIXES  # the lease is rewritten within minutes
    assert "data/" in VERSION_DELETED  # packs: the space is freed by version id
