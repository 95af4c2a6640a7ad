"""Shell completion (click's): the files in docs/examples/completion are what the installed
s3vault generates, and completing a command name works through the real entry point."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import S3VAULT

FILES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "completion"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shipped_completion_file_is_the_generated_one(shell: str) -> None:
    env = {**os.environ, "_S3VAULT_COMPLETE": f"{shell}_source"}
    done = subprocess.run([S3VAULT], env=env, capture_output=True, text=True, check=True)
    assert (FILES / f"s3vault.{shell}").read_text() == done.stdout


def test_bash_completes_a_command_and_an_option() -> None:
    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_S3VAULT_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        done = subprocess.run([S3VAULT], env=env, capture_output=True, text=True, check=True)
        return [line.split(",", 1)[1] for line in done.stdout.splitlines()]

    assert complete("s3vault snap") == ["snapshots"]
    assert "--latest" in complete("s3vault snapshots --la")
