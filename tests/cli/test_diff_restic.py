"""`diff --json` ends with restic's ``statistics`` message (after s3vault's own ``summary``):
the same counts as restic's on the same two trees, side by side (skipped without restic)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.maintenance.resticrepo import cheapen_key

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def _change(src: Path) -> None:
    """A directory removed, one added, a file changed, a link added, a copy of a file."""
    shutil.rmtree(src / "b")
    write_file(src / "c" / "z", b"new")
    (src / "a" / "l").symlink_to("x")
    with open(src / "a" / "x", "ab") as f:
        f.write(b"changed")
    shutil.copy(src / "big", src / "big2")
    write_file(src / "lit\\xe9", b"a backslash of the name's own")  # the JSON names it so
    write_file(src / os.fsdecode(b"dir\xe9") / "f", b"a byte that is no UTF-8")
    shutil.rmtree(src / "d")  # a directory become a file: T alone, its old entries unlisted
    write_file(src / "d", b"now a file")


def _statistics(text: str) -> dict[str, object]:
    (stats,) = [m for m in map(json.loads, text.splitlines()) if m["message_type"] == "statistics"]
    return stats


def test_diff_json_statistics_count_as_restics(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "dd"
    write_file(src / "a" / "x", b"1")
    write_file(src / "b" / "y", b"2")
    write_file(src / "big", os.urandom(100_000))
    write_file(src / "d" / "in", b"in a directory that becomes a file")
    env = {**os.environ, "RESTIC_REPOSITORY": str(tmp_path / "restic"), "RESTIC_PASSWORD": "x"}
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    cheapen_key(tmp_path / "restic", b"x")

    def both() -> None:  # restic stores a relative target under the root: --root does here
        subprocess.run(
            ["restic", "backup", "-q", "dd"], env=env, cwd=tmp_path, check=True, capture_output=True
        )
        done = run_cli("-r", cli_repo, "backup", "--root", str(tmp_path), "/dd")
        assert done.code == 0, done.stderr

    both()
    _change(src)
    both()
    listed = subprocess.run(
        ["restic", "snapshots", "--json"], env=env, check=True, capture_output=True, text=True
    )
    first, second = (s["short_id"] for s in json.loads(listed.stdout))
    theirs = subprocess.run(
        ["restic", "diff", "--json", first, second],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    ours = run_cli("-r", cli_repo, "--json", "diff", "latest~1", "latest")
    assert ours.code == 0, ours.stderr
    restic_stats, our_stats = _statistics(theirs.stdout), _statistics(ours.stdout)
    for side in ("added", "removed"):
        mine, its = dict(our_stats[side]), dict(restic_stats[side])  # type: ignore[call-overload]
        assert mine.pop("bytes") > 0 and its.pop("bytes") > 0  # trees encode differently
        assert mine == its, side
    assert our_stats["changed_files"] == restic_stats["changed_files"] == 1
    assert our_stats["added"]["data_blobs"] == 5  # type: ignore[index]  # z, x, d, the odd two
    # each change as restic's: its modifier and path, a directory's ending with "/"
    changes = [
        (m["modifier"], m["path"])
        for m in map(json.loads, ours.stdout.splitlines())
        if m["message_type"] == "change"
    ]
    restic_changes = [
        (m["modifier"], m["path"])
        for m in map(json.loads, theirs.stdout.splitlines())
        if m["message_type"] == "change"
    ]
    assert changes == restic_changes
    assert any(path.endswith("/") for _modifier, path in changes)
    assert "/dd/lit\\xe9" in dict(map(reversed, changes))  # type: ignore[arg-type]
    assert "/dd/dir\ufffd/" in dict(map(reversed, changes))  # type: ignore[arg-type]
    ids = [s["id"] for s in json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)]
    assert (our_stats["source_snapshot"], our_stats["target_snapshot"]) == tuple(ids)
    text = run_cli("-r", cli_repo, "diff", "latest~1", "latest").stdout
    for modifier, path in changes:
        if path.isascii() and "\\" not in path:  # the others as listings spell names
            assert f"{modifier:<5} {path}" in text.splitlines(), text
