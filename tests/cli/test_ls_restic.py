"""`ls --json` carries restic's fields a script reads: the snapshot line restic's snapshot
object, and for each node ``mode`` (Go's os.FileMode), ``permissions`` (Go's mode string,
restic's letters for each type and special bit), ``atime`` and ``ctime``, compared side by
side with restic's on the same tree (skipped without restic)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.maintenance.resticrepo import ResticRepo

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def _tree(src: Path) -> None:
    write_file(src / "file", b"x")
    (src / "link").symlink_to("file")
    os.mkfifo(src / "fifo")
    write_file(src / "suid", b"#!/bin/sh\n").chmod(0o4755)
    write_file(src / "sgid", b"x").chmod(0o2750)
    (src / "sticky").mkdir()
    (src / "sticky").chmod(0o1777)
    (src / "private").mkdir(mode=0o700)
    # names and times as restic's JSON has them: a backslash of the name's own, a byte that
    # is no UTF-8 (U+FFFD in both), nanoseconds (an attack pass, 2026-12-07)
    write_file(src / "back\\slash", b"x")
    write_file(Path(os.fsdecode(bytes(src) + b"/odd\xfe")), b"x")
    os.utime(src / "file", ns=(4102488000123456789, 4102488000123456789))
    if os.geteuid() == 0:  # device nodes: restic names a block device "dev"
        os.mknod(src / "bdev", 0o640 | stat.S_IFBLK, os.makedev(7, 0))
        os.mknod(src / "cdev", 0o640 | stat.S_IFCHR, os.makedev(1, 3))


def _nodes(lines: str, src: Path) -> dict[str, dict[str, object]]:
    """The nodes below ``src`` by their path relative to it."""
    out = {}
    for text in lines.splitlines():
        node = json.loads(text)
        path = str(node.get("path", ""))
        if node.get("struct_type") == "node" and path.startswith(f"{src}/"):
            out[path[len(str(src)) + 1 :]] = node
    return out


def test_ls_json_has_restics_permissions_and_times(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _tree(src)
    restic = ResticRepo(tmp_path / "restic")
    restic.run("backup", str(src))
    theirs = restic.run("ls", "--json", "latest")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    ours = run_cli("-r", cli_repo, "--json", "ls", "latest")
    assert ours.code == 0, ours.stderr
    restic_nodes, our_nodes = _nodes(theirs.stdout, src), _nodes(ours.stdout, src)
    devices = {"bdev", "cdev"} if os.geteuid() == 0 else set()
    names = {"file", "link", "fifo", "suid", "sgid", "sticky", "private", *devices}
    names |= {"back\\slash", "odd\ufffd"}
    assert set(our_nodes) == set(restic_nodes) == names
    for name, node in restic_nodes.items():
        assert our_nodes[name]["name"] == node["name"] == name.rpartition("/")[2], name
        assert our_nodes[name]["permissions"] == node["permissions"], name
        assert our_nodes[name]["mode"] == node["mode"], name
        assert our_nodes[name]["type"] == node["type"], name
        for field in ("mtime", "atime", "ctime"):  # the same instants, to the nanosecond
            ours, theirs = our_nodes[name][field], node[field]
            assert _nanos(ours) == _nanos(theirs), (name, field, ours, theirs)
    assert str(our_nodes["file"]["mtime"]).endswith(".123456789Z")  # Go's RFC3339Nano


def _nanos(text: object) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time."""
    match = re.fullmatch(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)", str(text))
    assert match is not None, text
    head, fraction, zone = match.groups()
    when = datetime.fromisoformat(head + ("+00:00" if zone in ("", "Z") else zone))
    return int(when.timestamp()) * 10**9 + int(((fraction or "") + "0" * 9)[:9])


def test_ls_json_starts_with_restics_snapshot_object(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The first line has what restic's has (time, tree, paths, hostname, username, ids), as
    ``snapshots --json`` shows the same snapshot."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    assert run_cli("-r", cli_repo, "backup", "--tag", "t1", str(src)).code == 0
    first = json.loads(run_cli("-r", cli_repo, "--json", "ls", "latest").stdout.splitlines()[0])
    (snap,) = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert first["struct_type"] == "snapshot"
    for field in ("id", "short_id", "time", "tree", "paths", "hostname", "username", "tags"):
        assert first[field] == snap[field], field
    assert first["paths"] == [str(src)] and first["tags"] == ["t1"]


def test_ls_long_lines_are_restics(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    """`ls -l` as restic 0.14 prints it, field for field (Go's mode string, uid, gid, size,
    local time, path, a link's target): a script's `awk '{print $4}'` read the size in
    restic's and the time in ours, and `grep ^L` found no link (an attack pass,
    2026-12-07)."""
    src = tmp_path / "src"
    src.mkdir()
    _tree(src)
    (src / "back\\slash").unlink()  # restic writes these names' bytes as they are: not text
    Path(os.fsdecode(bytes(src) + b"/odd\xfe")).unlink()
    restic = ResticRepo(tmp_path / "restic")
    restic.run("backup", str(src))
    theirs = restic.run("ls", "-l", "latest", str(src)).stdout.splitlines()
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    ours = run_cli("-r", cli_repo, "ls", "-l", "latest", str(src))
    assert ours.code == 0, ours.stderr

    def below(lines: list[str]) -> dict[str, str]:  # by name
        return {line.split(f"{src}/", 1)[1]: line for line in lines if f" {src}/" in line}

    mine, restics = below(ours.stdout.splitlines()), below(theirs)
    assert set(mine) == set(restics) and "link -> file" in mine
    assert mine == restics
