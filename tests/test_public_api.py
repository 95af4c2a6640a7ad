"""s3vault's public API is deliberate: __all__ lists exactly what the package exports."""

from __future__ import annotations

import s3vault


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    for name in s3vault.__all__:
        assert hasattr(s3vault, name), name
    public = {
        name
        for name, value in vars(s3vault).items()
        if not name.startswith("_") and not getattr(value, "__name__", "").startswith("s3vault.")
    }
    assert public <= set(s3vault.__all__), public - set(s3vault.__all__)
