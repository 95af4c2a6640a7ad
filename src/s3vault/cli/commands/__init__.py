"""One module per command, named after it; a command's module is imported when the command is
looked up (``LazyCommands``): ``s3vault snapshots`` imports the snapshots command and what it
uses, not the other thirty-odd commands and the library behind them (``--help`` and the man
pages load them all)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping

import click

# command name → (module in this package, the click command's name in it)
TABLE: dict[str, tuple[str, str]] = {
    "init": ("init", "init"),
    "backup": ("backup", "backup"),
    "snapshots": ("snapshots", "snapshots"),
    "ls": ("ls", "ls"),
    "list": ("listing", "list_command"),
    "cat": ("cat", "cat"),
    "cache": ("cache", "cache"),
    "find": ("find", "find"),
    "diff": ("diff", "diff"),
    "restore": ("restore", "restore"),
    "dump": ("dump", "dump"),
    "mount": ("mount", "mount"),
    "verify": ("verify", "verify"),
    "restore-test": ("drill", "drill"),
    "forget": ("forget", "forget"),
    "tag": ("tag", "tag"),
    "rewrite": ("rewrite", "rewrite"),
    "prune": ("prune", "prune"),
    "unlock": ("unlock", "unlock"),
    "repair": ("repair", "repair"),
    "key": ("key", "key"),
    "audit": ("audit", "audit"),
    "run": ("run", "run"),
    "copy": ("copy", "copy"),
    "stats": ("stats", "stats"),
    "fleet": ("fleet", "fleet"),
    "report": ("report", "report"),
    "cost": ("cost", "cost"),
    "iam-policy": ("iam", "iam_policy"),
    "setup-bucket": ("bucket", "setup_bucket"),
    "setup-audit": ("setup_audit", "setup_audit"),
    "doctor": ("bucket", "doctor"),
    "setup-alarms": ("alarms", "setup_alarms"),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """A click group's ``commands``: every name of ``TABLE`` is there at once, and its command
    is imported on first lookup, then given ``finish`` (help-text touches) once."""

    def __init__(self, finish: Callable[[str, click.Command], None]) -> None:
        self._finish = finish
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            if name not in TABLE:
                raise KeyError(name)
            module, attribute = TABLE[name]
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
            assert isinstance(command, click.Command), name
            self._finish(name, command)
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("s3vault's commands are fixed")

    def __contains__(self, name: object) -> bool:
        return name in TABLE or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*TABLE, *self._loaded]))

    def __len__(self) -> int:
        return len(TABLE.keys() | self._loaded.keys())
