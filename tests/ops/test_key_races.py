"""Key changes beside each other and beside a rotation (the maintenance lease, and the
config's epochs as the command opened it): a `key passwd` or `key add` that ran beside
`key rotate-master` wrote a key file from the old master keys only and reported success,
and `key passwd` then removed the only key file that had the new one (the repository opened
with no key); two `key remove` at once each removed the other's key (none left)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from s3vault import add_key, change_password, list_keys, open_repository, remove_key, rotate_master
from s3vault.clock import SystemClock
from s3vault.errors import LeaseHeldError, S3VaultError
from s3vault.repository.lease import lease_class
from tests.conftest import RepoHandle


def test_a_password_change_opened_before_a_rotation_changes_nothing(
    local_repo: RepoHandle,
) -> None:
    stale = local_repo.open()  # `key passwd` opened the repository (epoch 1)...
    rotate_master(local_repo.open())  # ...and a rotation ran beside it (epoch 2)
    with pytest.raises(S3VaultError, match="master keys changed"):
        change_password(stale, b"new password")
    with pytest.raises(S3VaultError, match="master keys changed"):
        add_key(stale, b"another password")
    assert len(list_keys(local_repo.open())) == 1  # nothing was written or removed
    fresh = local_repo.open()
    change_password(fresh, b"new password")
    opened = open_repository(replace(local_repo.options, password=b"new password"))
    assert opened.config.current_epoch == 2


def test_a_key_change_waits_for_the_lease(local_repo: RepoHandle) -> None:
    second = add_key(local_repo.open(), b"second password")
    other = local_repo.open()
    holder = local_repo.open()
    with (
        lease_class(holder).acquire(holder, "key remove", None, clock=SystemClock()),
        pytest.raises(LeaseHeldError),
    ):
        remove_key(other, second.id)
    assert len(list_keys(local_repo.open())) == 2


def test_a_rotation_opened_before_another_rotation_changes_nothing(
    local_repo: RepoHandle,
) -> None:
    """Two rotations one after the other, the second opened before the first ran: it took
    the same epoch number again under another master key (what was written under the first
    one's would no longer open)."""
    stale = local_repo.open()
    rotate_master(local_repo.open())
    with pytest.raises(S3VaultError, match="master keys changed"):
        rotate_master(stale)
    assert local_repo.open().config.current_epoch == 2


def test_two_put_only_key_removals_both_stay_revoked(local_repo: RepoHandle) -> None:
    """Each removal of a put-only key records its revocation in the config. The second of two
    removals, opened before the first saved, saved the config it had opened with: the first
    key's revocation was undone (its later objects accepted again)."""
    from s3vault import add_put_only_key

    web1 = add_put_only_key(local_repo.open(), b"web-01 secret", host="web-01", switch=True)
    web2 = add_put_only_key(local_repo.open(), b"web-02 secret", host="web-02")
    first, second = local_repo.open(), local_repo.open()
    remove_key(first, web1.id)
    remove_key(second, web2.id)
    assert {web1.id, web2.id} <= set(local_repo.open().config.revoked)
