"""Recovery keys: every secret round-trips through its text form, which forgives case, spacing
and look-alike digits, and a mistyped character is caught by the checksum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto import recovery
from s3vault.errors import UsageError

secrets_ = st.binary(min_size=recovery.SECRET_SIZE, max_size=recovery.SECRET_SIZE)


@given(secrets_)
def test_the_text_form_round_trips(secret: bytes) -> None:
    text = recovery.encode(secret)
    assert len(text.split("-")) == 14
    assert recovery.decode(text) == secret
    sloppy = text.lower().replace("-", " ").replace("O", "0").replace("o", "0")
    assert recovery.decode(sloppy) == secret


@given(secrets_, st.integers(0, 55), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
def test_a_mistyped_character_is_caught(secret: bytes, position: int, typed: str) -> None:
    chars = list(recovery.encode(secret).replace("-", ""))
    if chars[position] == typed:
        return
    chars[position] = typed
    with pytest.raises(UsageError):
        recovery.decode("".join(chars))


def test_text_that_is_not_a_recovery_key_is_refused() -> None:
    for text in ("", "hello", "ABCD-EFGH"):
        with pytest.raises(UsageError, match="not a recovery key"):
            recovery.decode(text)
