"""Wrap named functions of named modules as those modules are imported: the one mechanism of
bench/cpu_trace.py and bench/rss_stages.py, which log the steps of s3vault's commands. Each is
loaded as ``sitecustomize``; the tool that installs it (bench/scaling.py, bench/rss_breakdown.py)
copies this file beside it, so ``import stephooks`` finds it at interpreter start."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

Wrap = Callable[[str, Any], Any]  # (the dotted name in its module, the function) → its wrapper


class _Patching(Loader):
    def __init__(self, inner: Loader, names: tuple[str, ...], wrap: Wrap) -> None:
        self.inner, self.names, self.wrap = inner, names, wrap

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        for dotted in self.names:
            owner: Any = module
            *path, attr = dotted.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, attr, self.wrap(dotted, getattr(owner, attr)))


class _Finder(MetaPathFinder):
    def __init__(self, steps: dict[str, tuple[str, ...]], wrap: Wrap) -> None:
        self.steps, self.wrap = steps, wrap

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname not in self.steps:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target)  # type: ignore[attr-defined]
            if spec is not None and spec.loader is not None:
                spec.loader = _Patching(spec.loader, self.steps[fullname], self.wrap)
                return spec
        return None


def append_line(path: str, line: str) -> None:
    """Add one line to the step log at ``path``: one write with O_APPEND, so that the lines of
    a parent and its worker processes never interleave inside a line."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def install(steps: dict[str, tuple[str, ...]], wrap: Wrap) -> None:
    """From now on, ``steps[module]``'s functions (dotted names: ``Class.method``) are replaced
    by ``wrap(name, function)`` when ``module`` is imported."""
    sys.meta_path.insert(0, _Finder(steps, wrap))
