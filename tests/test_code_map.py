"""docs/design.md §15, the map of the code, names every package of src/s3vault in the layer
the import contract (pyproject.toml) puts it in, so the map cannot drift from the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _map() -> dict[str, int]:
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## 15. Map of the code", 1)[1]
    rows = re.findall(r"^\| (\d+) \| `([a-z_]+)` \|", section, re.MULTILINE)
    return {name: int(layer) for layer, name in rows}


def _contract() -> dict[str, int]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [
        c["layers"]
        for c in config["tool"]["importlinter"]["contracts"]
        if c.get("type") == "layers"
    ]
    out = {}
    for n, row in enumerate(layers, start=1):
        for module in row.split("|"):
            out[module.strip().removeprefix("s3vault.")] = n
    return out


def test_the_map_names_every_package_in_its_layer() -> None:
    src = ROOT / "src" / "s3vault"
    packages = {p.name for p in src.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in src.glob("*.py") if not p.stem.startswith("__")}
    assert set(_map()) == packages | modules
    assert _map() == _contract()
