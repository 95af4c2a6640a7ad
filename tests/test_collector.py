"""s3vault/collector.py: a pause ends as it began, whatever happens inside."""

from __future__ import annotations

import gc

import pytest

from s3vault import collector


def test_a_pause_ends_as_it_began_nested_or_raising() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested (a restore's pause around its plan's own)
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer one decides
    assert gc.isenabled()
    with pytest.raises(ValueError, match="inside"), collector.paused():
        raise ValueError("inside")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()
