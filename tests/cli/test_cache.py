"""cache [--cleanup] [--max-age DAYS] (issue 17): the local caches, as restic's cache command.

Time is simulated by setting the cache directories' modification times (their last use)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.readonly import unwritable

DAY = 86400


def _repo(run_cli: RunCli, tmp_path: Path, name: str) -> str:
    url = str(tmp_path / name)
    done = run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key", "-q")
    assert done.code == 0, done.stderr
    src = write_file(tmp_path / f"src-{name}" / "a.txt", name.encode() * 1000).parent
    done = run_cli("-r", url, "backup", str(src), "-q")
    assert done.code == 0, done.stderr
    return url


def _caches(run_cli: RunCli, *args: str) -> tuple[dict[str, dict], dict]:
    done = run_cli("--json", "cache", *args)
    assert done.code == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    entries = {e["location"]: e for e in lines if e["message_type"] == "cache"}
    (summary,) = [e for e in lines if e["message_type"] == "summary"]
    return entries, summary


def _age(path: Path, days: float) -> None:
    """Make a cache directory look last used ``days`` ago (its index file too)."""
    when = time.time() - days * DAY  # noqa: TID251 - file times are wall-clock times
    for p in (path / "index", path):
        if p.exists():
            os.utime(p, (when, when))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_cache_lists_each_repository_cache_with_size_and_last_use(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    one, two = _repo(run_cli, tmp_path, "one"), _repo(run_cli, tmp_path, "two")
    root = Path(cli_env["XDG_CACHE_HOME"]) / "s3vault"
    entries, summary = _caches(run_cli)
    assert set(entries) == {one, two}
    assert summary["caches"] == 2 and summary["old"] == 0
    assert all(e["size"] > 0 and not e["old"] and e["age_days"] < 1 for e in entries.values())
    _age(Path(entries[two]["path"]), 40)
    done = run_cli("cache")
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"caches in {root}:"
    assert lines[1].split() == ["Repository", "Last", "used", "Old", "Size", "Location"]
    row_two = next(line for line in lines if line.endswith(two))
    assert "40 days ago" in row_two and " yes " in row_two
    assert "1 cache not used for 30 days or more: `s3vault cache --cleanup` removes it" in lines
    entries, _ = _caches(run_cli, "--max-age", "60")
    assert not entries[two]["old"]
    # using a repository marks its cache used
    assert run_cli("-r", two, "snapshots", "-q").code == 0
    entries, _ = _caches(run_cli)
    assert not entries[two]["old"] and entries[two]["age_days"] < 1


def test_cache_cleanup_removes_old_caches_only_and_keeps_the_audit_chain(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    one, two = _repo(run_cli, tmp_path, "one"), _repo(run_cli, tmp_path, "two")
    root = Path(cli_env["XDG_CACHE_HOME"]) / "s3vault"
    entries, _ = _caches(run_cli)
    old_dir, new_dir = Path(entries[two]["path"]), Path(entries[one]["path"])
    # things in the cache root that are not a repository's cache: never touched
    outside = tmp_path / "outside"
    write_file(outside / "precious.txt", b"keep me\n")
    write_file(root / "notes" / "todo.txt", b"mine\n")
    write_file(root / ("ab" * 32), b"a file named like a repository id\n")
    (root / ("cd" * 32)).symlink_to(outside)
    for path in (root / "notes", root / ("ab" * 32), outside, outside / "precious.txt"):
        os.utime(path, (0, 0), follow_symlinks=False)
    os.utime(root / ("cd" * 32), (0, 0), follow_symlinks=False)
    _age(old_dir, 31)
    before_new = _files(new_dir)
    chains = {name for name in _files(old_dir) if name.startswith("audit-chains")}
    assert {"audit-chains.lock"} < chains  # the lock and the chain ends of the location
    assert _files(old_dir) - chains  # a cache to remove
    done = run_cli("cache", "--cleanup")
    assert done.code == 0, done.stderr
    assert f"removed the cache of repository {old_dir.name[:8]} ({two}): last used 31 days ago" in (
        done.stdout
    )
    assert "1 cache removed" in done.stdout
    assert _files(old_dir) == chains  # not a cache: kept
    assert _files(new_dir) == before_new
    assert (outside / "precious.txt").read_bytes() == b"keep me\n"
    assert (root / "notes" / "todo.txt").exists() and (root / ("ab" * 32)).is_file()
    assert (root / ("cd" * 32)).is_symlink()
    # a second cleanup has nothing left to remove; the listing says the old one is cleaned
    entries, summary = _caches(run_cli, "--cleanup")
    assert summary["removed"] == 0 and entries[two]["cleaned"] and entries[two]["old"]
    # the repository still opens (its cache is rebuilt), and its audit chain still checks out
    assert run_cli("-r", two, "snapshots", "-q").code == 0
    assert _files(old_dir) - {"audit-chains.json", "audit-chains.lock"}
    done = run_cli("-r", two, "audit")
    assert done.code == 0, done.stdout + done.stderr


def test_cache_refuses_bad_input_in_one_line(run_cli: RunCli) -> None:
    done = run_cli("--no-cache", "cache")
    assert done.code == 2
    assert done.stderr.strip().splitlines() == ["Fatal: cache: --no-cache names no cache directory"]
    done = run_cli("cache", "--max-age", "-1")
    assert done.code == 2 and "--max-age" in done.stderr
    done = run_cli("cache")  # no cache yet: said, not an error
    assert done.code == 0 and "no repository caches in" in done.stdout


@pytest.mark.parametrize("kind", ["mount", "chmod"])
def test_cache_cleanup_of_a_read_only_cache_fails_in_one_line_and_removes_nothing(
    kind: str, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    one = _repo(run_cli, tmp_path, "one")
    root = Path(cli_env["XDG_CACHE_HOME"]) / "s3vault"
    (cache_dir,) = [p for p in root.iterdir() if p.is_dir()]
    _age(cache_dir, 100)
    before = _files(root)
    with unwritable(root, kind) as read_only:
        done = run_cli("--cache-dir", str(read_only), "cache", "--cleanup")
        assert done.code == 1, done.stdout + done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: could not clean {read_only / cache_dir.name}: "), line
        assert "Traceback" not in done.stderr
        # reading commands still work with the read-only cache
        done = run_cli("--cache-dir", str(read_only), "-r", one, "snapshots", "-q")
        assert done.code == 0, done.stderr
    assert _files(root) == before
