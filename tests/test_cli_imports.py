"""The command line is a client of the public API: every module of s3vault.cli imports only
the package root (``s3vault``) and other modules of s3vault.cli, so whatever the CLI can do, a
Python caller can do through ``import s3vault`` (and the import contracts in pyproject.toml
say the same to lint-imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import s3vault
import s3vault.cli

CLI = Path(s3vault.cli.__file__).parent


def _imported(path: Path) -> set[str]:
    """The s3vault modules a file imports (at any depth: lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "s3vault" or name.startswith("s3vault.")}


def test_the_cli_imports_only_the_package_root_and_itself() -> None:
    files = sorted(CLI.rglob("*.py"))
    assert len(files) > 20  # the commands are there
    outside = {
        f"{path.relative_to(CLI)}: {name}"
        for path in files
        for name in _imported(path)
        if name != "s3vault" and name != "s3vault.cli" and not name.startswith("s3vault.cli.")
    }
    assert not outside, sorted(outside)


def test_what_the_cli_takes_from_the_root_is_public() -> None:
    """Every name the CLI imports from ``s3vault`` is in ``__all__``."""
    names = {
        alias.name
        for path in CLI.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "s3vault"
        for alias in node.names
    }
    assert names <= set(s3vault.__all__), sorted(names - set(s3vault.__all__))
