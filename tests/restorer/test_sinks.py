"""The restore sink leaves zero blocks as holes and writes everything else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from s3vault.restorer.sinks import HOLE_BLOCK, data_runs

blocks = st.lists(
    st.sampled_from([b"\0" * HOLE_BLOCK, b"\1" * HOLE_BLOCK, b"\0" * 100 + b"x"]), max_size=12
)


@given(blocks)
def test_data_runs_cover_every_nonzero_byte(parts: list[bytes]) -> None:
    data = b"".join(parts)
    rebuilt = bytearray(len(data))
    for start, end in data_runs(data):
        rebuilt[start:end] = data[start:end]
    assert bytes(rebuilt) == data


def test_all_zero_blob_needs_no_write() -> None:
    assert data_runs(bytes(3 * HOLE_BLOCK)) == []
    assert data_runs(bytes(10)) == []
