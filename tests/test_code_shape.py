"""The shape of the code (issue 15): no function in the library over LIMIT lines unless its
first line says why (a comment starting with ``# long:``), so that every function can be
read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "s3vault"
LIMIT = 80


def _long_functions() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length <= LIMIT:
                continue
            head = lines[node.lineno - 1 : node.body[0].lineno + 1]
            if any("# long:" in line for line in head):
                continue
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_a_screen_without_a_reason() -> None:
    assert _long_functions() == []
