"""No function of the library calls itself, directly or through other functions of its module
(issue 14: a tree 10,000 levels deep must never meet Python's recursion limit; every walk keeps
an explicit stack). The call graph is built per module from the source: a call of a plain name
or of ``self.name``/``cls.name`` is an edge to the function or method of that name."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "s3vault"
# (module, cycle) allowed, and why
ALLOWED = {
    # the CLI's JSON rendering follows the shape of a result record (a few levels of fixed
    # dataclasses), never repository or source data
    ("cli/render.py", "to_jsonable"),
}


def _graph(tree: ast.Module) -> dict[str, set[str]]:
    """Calls between the module's functions (``name``) and methods (``Class.name``): a plain
    name calls the module's function of that name, ``self.x``/``cls.x`` the class's method."""
    graph: dict[str, set[str]] = {}
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def add(fn: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> None:
        key = f"{owner}.{fn.name}" if owner else fn.name
        edges = graph.setdefault(key, set())
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name) and f.id in functions:
                edges.add(f.id)
            elif (
                owner
                and isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id in ("self", "cls")
            ):
                edges.add(f"{owner}.{f.attr}")

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            add(node, None)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    add(item, node.name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle's members (iterative Tarjan: this test must not recurse either)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start, edges_of_start in graph.items():
        if start in index:
            continue
        work = [(start, iter(sorted(edges_of_start)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1 or node in graph[node]:
                    found.append(sorted(members))
    return found


def test_no_function_of_the_library_recurses() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        graph = _graph(ast.parse(path.read_text(), str(path)))
        module = path.relative_to(SRC).as_posix()
        problems += [
            f"{module}: {' -> '.join(c)}"
            for c in _cycles(graph)
            if (module, " -> ".join(c)) not in ALLOWED
        ]
    assert not problems, problems


def test_the_check_finds_recursion() -> None:
    """The check itself sees direct and mutual recursion (so it can fail)."""
    source = """
def walk(t):
    for c in t.children:
        walk(c)

class W:
    def a(self, x):
        return self.b(x)
    def b(self, x):
        return self.a(x)

def flat(x):
    return len(x)
"""
    assert sorted(_cycles(_graph(ast.parse(source)))) == [["W.a", "W.b"], ["walk"]]
