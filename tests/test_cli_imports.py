"""The command line is a client of the public API: every module of s3vault.cli imports only
the package root (``s3vault``) and other modules of s3vault.cli, so whatever the CLI can do, a
Python caller can do through ``import s3vault`` (and the import contracts in pyproject.toml
say the same to lint-imports)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import s3vault
import s3vault.cli
from s3vault.cli.commands import TABLE

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


def test_the_command_table_names_every_command_module() -> None:
    """Each entry of s3vault/cli/commands/__init__.py's TABLE is the command of that name, and
    every command module is in it."""
    for name, (module, attribute) in TABLE.items():
        command = getattr(importlib.import_module(f"s3vault.cli.commands.{module}"), attribute)
        assert command.name == name
    modules = {path.stem for path in (CLI / "commands").glob("*.py")} - {"__init__"}
    assert modules == {module for module, _ in TABLE.values()}
    assert sorted(s3vault.cli.cli.commands) == sorted(TABLE)


def test_a_command_imports_its_own_module_only() -> None:
    """The console script imports the command it runs, not the other thirty-odd and the library
    behind them (0.1 s of start-up; docs/performance.md)."""
    code = (
        "import json, sys\n"
        "from s3vault.cli import cli\n"
        "cli.commands['snapshots']\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('s3vault.cli.commands'))))"
    )
    # -I: without the suite's sitecustomize (tests/lowkdf_site)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, check=True)
    assert json.loads(done.stdout) == ["s3vault.cli.commands", "s3vault.cli.commands.snapshots"]
