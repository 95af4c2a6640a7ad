"""Two inits of one repository at once (an attack pass, 2026-12-06: four `init` on one S3
prefix): the one whose config lands first wins; the others remove the key file they stored
and say that another init won. The old losers left their key files, listed as "UNUSABLE:
belongs to another repository", and a loser's password got "wrong password: it opens none of
the 5 key file(s)"."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault import InitOptions, RepoOptions, init, open_repository
from s3vault.backend.base import Backend
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.errors import S3VaultError
from tests.conftest import TEST_SETTINGS


class _OvertakenAtItsConfig(ForwardingBackend):
    """Lets another init create the repository just before this one writes its config."""

    def __init__(self, inner: Backend, other: RepoOptions) -> None:
        super().__init__(inner)
        self._other = other

    def put(self, name: str, data: bytes | memoryview) -> None:
        if name == "config":
            init(self._other, InitOptions(settings=TEST_SETTINGS), backend=self._inner)
        self._inner.put(name, data)


def test_the_init_that_lost_the_race_takes_its_key_file_back(tmp_path: Path) -> None:
    store = LocalBackend(tmp_path / "repo")
    winner = RepoOptions(url=str(tmp_path / "repo"), password=b"winner", cache_dir=None)
    loser = RepoOptions(url=str(tmp_path / "repo"), password=b"loser", cache_dir=None)
    racing = _OvertakenAtItsConfig(store, winner)
    with pytest.raises(S3VaultError, match="another init created a repository"):
        init(loser, InitOptions(settings=TEST_SETTINGS), backend=racing)
    assert len(list(store.list("keys/"))) == 1  # the winner's
    assert open_repository(winner, backend=store, load_index=False).id is not None
