"""doctor as an operation: check records for the repository (the bucket's are tested with
the S3 server in tests/cli/test_bucket.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from s3vault import (
    OK,
    WARNING,
    WRONG,
    DoctorOptions,
    Repository,
    WrongPasswordError,
    add_recovery_key,
    doctor,
    open_repository,
)
from tests.conftest import RepoHandle


def test_a_repository_with_one_password_is_warned_about(local_repo: RepoHandle) -> None:
    result = doctor(DoctorOptions(url=local_repo.url), opener=local_repo.open)
    states = {c.item: c.state for c in result.checks}
    assert states == {"repository": OK, "keys": WARNING, "key age": OK}
    assert (result.wrong, result.warnings) == (0, 1)
    keys = next(c for c in result.checks if c.item == "keys")
    assert "key add --recovery" in keys.fix


def test_a_recovery_key_settles_the_keys_check(local_repo: RepoHandle) -> None:
    add_recovery_key(local_repo.open())
    result = doctor(DoctorOptions(url=local_repo.url), opener=local_repo.open)
    assert [c.state for c in result.checks] == [OK, OK, OK]  # opens, keys, key age


def test_a_repository_that_does_not_open_is_a_finding_not_an_error(
    local_repo: RepoHandle,
) -> None:
    def wrong_password() -> Repository:
        options = replace(local_repo.options, password=b"not it")
        return open_repository(options, load_index=False)

    with pytest.raises(WrongPasswordError) as raised:
        wrong_password()
    result = doctor(DoctorOptions(url=local_repo.url), opener=wrong_password)
    (check,) = result.checks
    assert (check.item, check.state, result.wrong) == ("repository", WRONG, 1)
    assert check.detail == str(raised.value)
