"""s3vault's public API is deliberate: __all__ lists exactly what the package exports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_lazy_table_names_what_the_type_checking_imports_name() -> None:
    """The names load on first use from a table (s3vault/__init__.py): it says exactly what the
    imports that type checkers and readers see say, and ``__all__`` lists them all."""
    tree = ast.parse(Path(s3vault.__file__).read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "_typing.TYPE_CHECKING"
    )
    imported = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == s3vault._EXPORTS
    assert set(imported) | {"__version__"} == set(s3vault.__all__)


def test_importing_the_package_imports_no_operation_until_one_is_used() -> None:
    """``import s3vault`` costs the version string only; a name imports its own module."""
    code = (
        "import json, sys, s3vault\n"
        "before = sorted(m for m in sys.modules if m.startswith('s3vault'))\n"
        "s3vault.ls\n"
        "print(json.dumps([before, 's3vault.ops.ls' in sys.modules,"
        " 's3vault.ops.backup' in sys.modules, s3vault.ls.__module__]))\n"
    )
    # -I: without the suite's sitecustomize (tests/lowkdf_site), which imports s3vault's KDF
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, check=True)
    before, ls_loaded, backup_loaded, owner = json.loads(done.stdout)
    assert before == ["s3vault", "s3vault.version"]
    assert ls_loaded and not backup_loaded and owner == "s3vault.ops.ls"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_operation'"):
        s3vault.no_such_operation  # noqa: B018


def test_every_error_a_caller_can_meet_is_exported() -> None:
    """A library caller catches what the docstrings name (NotARepositoryError,
    LeaseHeldError...) from the root; they were importable only from s3vault.errors (an attack
    pass, 2026-12-07). Subclasses no operation raises past its own module stay internal."""
    import s3vault.errors as errors

    internal = {"RevokedWriterError", "NoSuchBucketError", "ObjectExistsError"}
    internal |= {"VersionMismatchError", "UnsupportedOperationError"}
    raised = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.S3VaultError)
    }
    assert raised - internal <= set(s3vault.__all__), sorted(
        raised - internal - set(s3vault.__all__)
    )
