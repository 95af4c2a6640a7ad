"""PrefetchingBackend: the first listing of a prefix is the one started when the wrapper was
made (overlapping what the caller does first); every later listing asks the store again; a
listing's error reaches the one who asks for it, and only them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from s3vault.backend.base import ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.memory import MemoryBackend
from s3vault.backend.prefetch import PrefetchingBackend
from s3vault.errors import AccessDeniedError


class Gate(ForwardingBackend):
    """Counts listings; a listing of a held prefix waits until it is released."""

    def __init__(self, inner: MemoryBackend, held: str = "") -> None:
        super().__init__(inner)
        self.calls: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self._held = held

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self.calls.append(prefix)
        if prefix == self._held:
            self.started.set()
            assert self.release.wait(10)
        return super().list(prefix)


def _names(listing: Iterator[ObjectInfo]) -> list[str]:
    return sorted(info.name for info in listing)


def test_the_first_listing_was_taken_ahead_and_later_ones_ask_again() -> None:
    store = MemoryBackend()
    store.put("snapshots/a", b"1")
    gate = Gate(store, held="snapshots/")
    ahead = PrefetchingBackend(gate, ["snapshots/", "index/"])
    assert gate.started.wait(10)  # started before anyone asked
    store.put("snapshots/b", b"2")  # lands after the listing began, before it was asked for
    assert ahead.pending == ["index/", "snapshots/"]
    gate.release.set()
    first = _names(ahead.list("snapshots/"))
    assert first in (["snapshots/a"], ["snapshots/a", "snapshots/b"])  # as the store was then
    assert _names(ahead.list("snapshots/")) == ["snapshots/a", "snapshots/b"]
    assert gate.calls.count("snapshots/") == 2
    assert _names(ahead.list("data/")) == []  # not prefetched: listed when asked
    assert ahead.pending == ["index/"]


def test_a_failed_listing_ahead_fails_whoever_asks_for_it() -> None:
    class Refusing(ForwardingBackend):
        def list(self, prefix: str) -> Iterator[ObjectInfo]:
            if prefix == "snapshots/":
                raise AccessDeniedError("list snapshots/: access denied")
            return super().list(prefix)

    store = MemoryBackend()
    store.put("index/x", b"1")
    ahead = PrefetchingBackend(Refusing(store), ["snapshots/", "index/"])
    assert _names(ahead.list("index/")) == ["index/x"]
    listing = ahead.list("snapshots/")
    with pytest.raises(AccessDeniedError, match="access denied"):
        list(listing)


def test_nothing_is_listed_without_prefixes_and_writes_pass_through() -> None:
    store = MemoryBackend()
    gate = Gate(store)
    plain = PrefetchingBackend(gate, [])
    plain.put("keys/k", b"key")
    assert store.get("keys/k") == b"key"
    assert gate.calls == [] and plain.pending == []
