"""CongestionWindow arithmetic: halve on throttling, win one slot back per window's worth of
requests (test_s3_pitfalls.py covers waiting for a slot and SlowDown from a real store)."""

from __future__ import annotations

from s3vault.backend.congestion import CongestionWindow


def _requests(window: CongestionWindow, n: int) -> None:
    for _ in range(n):
        with window.slot():
            pass


def test_congestion_window_halves_but_never_below_one() -> None:
    window = CongestionWindow(16)
    assert window.limit == 16
    window.throttled()
    assert window.limit == 8
    for _ in range(10):
        window.throttled()
    assert window.limit == 1
    assert window.throttles == 11
    _requests(window, 1)  # a lone request still runs
    assert window.limit == 2


def test_congestion_window_grows_back_additively_up_to_its_maximum() -> None:
    window = CongestionWindow(16)
    window.throttled()
    window.throttled()
    assert window.limit == 4
    _requests(window, 5)  # about one window's worth of successes: one slot more
    assert window.limit == 5
    _requests(window, 1000)
    assert window.limit == 16  # never above the maximum


def test_congestion_window_of_zero_is_one() -> None:
    assert CongestionWindow(0).limit == 1
