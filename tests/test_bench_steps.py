"""The step lists of the benchmark's tracers (bench/cpu_trace.py, bench/rss_stages.py) name
functions that exist: a tracer wraps each as its module is imported, and a name gone from the
code made every traced command fail ("cannot import name 'RestoreOptions' from 's3vault'":
`make bench-scaling` after ops/restore.py's `_select` was removed, found 2026-12-07)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("tracer", ["cpu_trace", "rss_stages"])
def test_every_traced_step_exists(tracer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # as the tracer finds stephooks beside it
    for name in ("S3VAULT_CPU_TRACE", "S3VAULT_RSS_STAGES"):
        monkeypatch.delenv(name, raising=False)  # loaded, not installed
    module = importlib.import_module(tracer)
    try:
        missing = []
        for owner_name, dotted_names in module.STEPS.items():
            owner = importlib.import_module(owner_name)
            for dotted in dotted_names:
                found: object = owner
                for part in dotted.split("."):
                    found = getattr(found, part, None)
                if not callable(found):
                    missing.append(f"{owner_name}.{dotted}")
        assert missing == []
    finally:
        sys.modules.pop(tracer, None)
