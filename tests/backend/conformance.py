"""The backend contract (backend/base.py), as one abstract test class every backend passes."""

from __future__ import annotations

import threading

import pytest

from s3vault.backend.base import Backend
from s3vault.errors import (
    BackendError,
    ObjectExistsError,
    ObjectNotFoundError,
    UnsupportedOperationError,
    VersionMismatchError,
)


class BackendContract:
    """Subclasses provide a ``backend`` fixture returning an empty backend."""

    def test_put_then_get_returns_the_bytes(self, backend: Backend) -> None:
        backend.put("data/ab/abcdef", b"hello world")
        assert backend.get("data/ab/abcdef") == b"hello world"
        assert backend.stat("data/ab/abcdef").size == 11

    def test_put_is_create_only(self, backend: Backend) -> None:
        backend.put("keys/k1", b"first")
        with pytest.raises(ObjectExistsError):
            backend.put("keys/k1", b"second")
        assert backend.get("keys/k1") == b"first"

    def test_ranged_get(self, backend: Backend) -> None:
        backend.put("index/i", bytes(range(100)))
        assert backend.get("index/i", 10, 5) == bytes(range(10, 15))
        assert backend.get("index/i", 95) == bytes(range(95, 100))
        assert backend.get("index/i", 98, 10) == bytes([98, 99])

    def test_missing_objects_raise_not_found(self, backend: Backend) -> None:
        with pytest.raises(ObjectNotFoundError):
            backend.get("snapshots/nope")
        with pytest.raises(ObjectNotFoundError):
            backend.stat("snapshots/nope")
        with pytest.raises(ObjectNotFoundError):
            backend.delete("snapshots/nope")

    def test_list_by_prefix(self, backend: Backend) -> None:
        names = {"data/00/a", "data/01/b", "index/c", "snapshots/d", "config"}
        for name in names:
            backend.put(name, name.encode())
        assert {i.name for i in backend.list("data/")} == {"data/00/a", "data/01/b"}
        assert {i.name for i in backend.list("")} == names
        assert {(i.name, i.size) for i in backend.list("index/")} == {("index/c", 7)}
        assert list(backend.list("locks/")) == []

    def test_delete_removes(self, backend: Backend) -> None:
        backend.put("locks/l", b"x")
        backend.delete("locks/l")
        assert list(backend.list("locks/")) == []
        backend.put("locks/l", b"y")  # the name is free again
        assert backend.get("locks/l") == b"y"

    def test_delete_many_removes_the_named_and_tolerates_the_gone(self, backend: Backend) -> None:
        for name in ("data/00/a", "data/00/b", "data/00/c"):
            backend.put(name, b"x")
        backend.delete_many(["data/00/a", "data/00/b", "data/00/never-there"])
        assert {i.name for i in backend.list("data/")} == {"data/00/c"}
        backend.delete_many([])

    def test_concurrent_create_has_one_winner(self, backend: Backend) -> None:
        wins: list[int] = []
        lock = threading.Lock()

        def contend(n: int) -> None:
            try:
                backend.put("locks/race", str(n).encode())
            except ObjectExistsError:
                return
            with lock:
                wins.append(n)

        threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if backend.guarantees.atomic_create:
            assert len(wins) == 1
        else:  # several may "win"; the last write stands, and it is one of theirs
            assert wins
        assert int(backend.get("locks/race")) in wins

    def test_empty_object(self, backend: Backend) -> None:
        backend.put("index/empty", b"")
        assert backend.get("index/empty") == b""
        assert backend.stat("index/empty").size == 0

    def test_stat_and_list_report_version_and_store_time(self, backend: Backend) -> None:
        before = backend.server_time()
        backend.put("locks/v", b"one")
        info = backend.stat("locks/v")
        assert info.version
        assert abs(info.modified - before) < 120  # the store's clock, not a constant
        (listed,) = list(backend.list("locks/"))
        assert listed.modified == pytest.approx(info.modified, abs=1)

    def test_replace_is_compare_and_swap(self, backend: Backend) -> None:
        backend.put("locks/cas", b"one")
        v1 = backend.stat("locks/cas").version
        if not backend.guarantees.compare_and_swap:
            with pytest.raises(UnsupportedOperationError):
                backend.replace("locks/cas", b"two", v1)
            assert backend.get("locks/cas") == b"one"
            return
        v2 = backend.replace("locks/cas", b"two", v1).version
        assert v2 != v1
        assert backend.get("locks/cas") == b"two"
        with pytest.raises(VersionMismatchError):
            backend.replace("locks/cas", b"three", v1)  # stale version: refused
        assert backend.get("locks/cas") == b"two"
        with pytest.raises(ObjectNotFoundError):
            backend.replace("locks/gone", b"x", v1)
        assert {i.name for i in backend.list("")} == {"locks/cas"}

    def test_temporaries_are_never_objects(self, backend: Backend) -> None:
        """A finished write leaves no temporary; no object name is taken for one."""
        backend.put("data/ab/abcdef", b"x" * 1000)
        if backend.guarantees.compare_and_swap:
            backend.replace("data/ab/abcdef", b"y", backend.stat("data/ab/abcdef").version)
        backend.server_time()
        assert list(backend.temporaries()) == []
        with pytest.raises(BackendError):
            backend.delete_temporary("data/ab/abcdef")
        assert backend.stat("data/ab/abcdef").size in (1, 1000)
