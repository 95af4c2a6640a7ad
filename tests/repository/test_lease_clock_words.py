"""The lease refuses maintenance when this host's clock is more than 5 minutes off the store's,
and says which way: a host an hour behind was told "+3600s off", one ahead "-3601s off"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from s3vault.clock import ManualClock, SystemClock
from s3vault.errors import S3VaultError
from s3vault.repository.lease import LeaseSettings, lease_class
from tests.conftest import RepoHandle


@pytest.mark.parametrize(("hours", "way"), [(1, "ahead of"), (-1, "behind")])
def test_a_skewed_clock_is_said_the_right_way(local_repo: RepoHandle, hours: int, way: str) -> None:
    repo = local_repo.open()
    skewed = ManualClock(SystemClock().now() + timedelta(hours=hours))
    with (
        pytest.raises(S3VaultError, match=f"clock is 36\\d\\ds {way} the storage's clock"),
        lease_class(repo).acquire(repo, "prune", LeaseSettings(), clock=skewed),
    ):
        pass
