"""`make man` writes a page for every command with every option it takes (scripts/man.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from s3vault.cli import cli
from s3vault.cli.options import GlobalOption

ROOT = Path(__file__).resolve().parent.parent


def commands() -> dict[str, tuple[str, click.Command]]:
    """Every visible command by its page name (s3vault-key-add): its path and the command."""
    found: dict[str, tuple[str, click.Command]] = {}
    stack: list[tuple[str, click.Command]] = [("s3vault", cli)]
    while stack:
        path, command = stack.pop()
        found[path.replace(" ", "-")] = (path, command)
        if isinstance(command, click.Group):
            stack += [(f"{path} {n}", c) for n, c in command.commands.items() if not c.hidden]
    return found


def roff_option(name: str) -> str:
    return name.replace("-", "\\-")


@pytest.fixture(scope="module")
def man_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("man")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "man.py"), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return target


def test_every_command_has_a_page_with_its_own_options(man_dir: Path) -> None:
    expected = commands()
    assert {p.stem for p in man_dir.glob("*.1")} == set(expected)
    for name, (path, command) in expected.items():
        text = (man_dir / f"{name}.1").read_text()
        assert f'.TH "{path.upper()}" "1"' in text
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            shown = name == "s3vault" or not isinstance(param, GlobalOption)
            long = next(o for o in param.opts if o.startswith("--"))  # later ones: old spellings
            found = re.search(re.escape(roff_option(long)) + r"(?![a-z]|\\-)", text)
            assert (found is not None) == shown, (name, long)
        if name != "s3vault":
            assert "s3vault(1)" in text  # where the global options are
    root = (man_dir / "s3vault.1").read_text()
    assert "130 interrupted" in root  # the exit codes
    for sub in cli.commands:
        assert f"\\fB{sub}\\fP" in root or sub in root


def test_pages_are_valid_roff(man_dir: Path) -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed: the pages' roff is not checked here")
    done = subprocess.run(
        [groff, "-man", "-ww", "-z", *map(str, sorted(man_dir.glob("*.1")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
