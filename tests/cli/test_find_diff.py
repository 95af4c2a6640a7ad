"""find and diff through the real CLI, and latest~N: looking inside snapshots as restic users
do (BRIEF §3)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.conftest import RunCli, write_file


def two_snapshots(tmp_path: Path, run_cli: RunCli, repo: str) -> Path:
    src = tmp_path / "src"
    write_file(src / "etc" / "app.conf", b"a = 1\n")
    write_file(src / "etc" / "nginx" / "nginx.conf", b"worker_processes 2;\n")
    write_file(src / "etc" / "gone.conf", b"bye\n")
    write_file(src / "srv" / "data.bin", os.urandom(50_000))
    write_file(src / "srv" / "README.TXT", b"read me\n")
    write_file(src / "becomes-dir", b"a file first\n")
    write_file(src / "old-dir" / "inside.txt", b"in a directory that goes away\n")
    (src / "link").symlink_to("etc")
    assert run_cli("-r", repo, "backup", str(src)).code == 0
    (src / "etc" / "app.conf").write_bytes(b"a = 2\n")  # content
    (src / "etc" / "gone.conf").unlink()
    os.chmod(src / "srv" / "README.TXT", 0o600)  # metadata only
    write_file(src / "srv" / "new.conf", b"new\n")
    (src / "becomes-dir").unlink()
    write_file(src / "becomes-dir" / "child.txt", b"now a directory\n")
    shutil.rmtree(src / "old-dir")
    (src / "link").unlink()
    (src / "link").symlink_to("srv")  # another target
    assert run_cli("-r", repo, "backup", str(src)).code == 0
    return src


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines()]


def test_diff_lists_every_kind_of_change(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = two_snapshots(tmp_path, run_cli, cli_repo)
    done = run_cli("-r", cli_repo, "--json", "diff", "latest~1", "latest", "--metadata")
    assert done.code == 0, done.stderr
    out = lines(done.stdout)
    # below the backed-up directory (its parents, read for their metadata, do not change)
    changes = {
        (str(c["modifier"]), str(c["path"])[len(str(src)) :])
        for c in out
        if c["message_type"] == "change" and str(c["path"]).startswith(str(src))
    }
    assert changes == {
        ("M", "/etc/app.conf"),
        ("-", "/etc/gone.conf"),
        ("U", "/srv/README.TXT"),
        ("+", "/srv/new.conf"),
        ("T", "/becomes-dir/"),  # a directory's path ends with "/", as restic's
        # (and its entries are not listed: restic 0.14 says the T alone, either way)
        ("-", "/old-dir/"),
        ("-", "/old-dir/inside.txt"),
        ("M", "/link"),
        # directories whose entries changed have a new mtime
        ("U", "/"),
        ("U", "/etc/"),
        ("U", "/srv/"),
    }
    summary, statistics = out[-2:]  # s3vault's own, then restic's
    assert (summary["message_type"], statistics["message_type"]) == ("summary", "statistics")
    # (child.txt is not counted: it is below a T)
    assert (summary["added"], summary["removed"], summary["modified"]) == (1, 3, 2)
    assert summary["bytes_added"] == len(b"new\n")

    # without --metadata: no U; the text form names each change
    text = run_cli("-r", cli_repo, "diff", "latest~1", "latest")
    assert text.code == 0, text.stderr
    assert f"M     {src}/etc/app.conf" in text.stdout.splitlines()
    assert not any(line.startswith("U ") for line in text.stdout.splitlines())
    same = run_cli("-r", cli_repo, "--json", "diff", "latest", "latest")
    summary, statistics = lines(same.stdout)  # nothing changed, nothing counted
    assert (summary["message_type"], summary["added"], summary["modified"]) == ("summary", 0, 0)
    assert statistics["message_type"] == "statistics" and statistics["changed_files"] == 0
    assert (
        statistics["added"]
        == statistics["removed"]
        == dict.fromkeys(("files", "dirs", "others", "data_blobs", "tree_blobs", "bytes"), 0)
    )


def test_find_by_name_and_by_path_in_every_snapshot(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = two_snapshots(tmp_path, run_cli, cli_repo)
    done = run_cli("-r", cli_repo, "--json", "find", "*.conf")
    assert done.code == 0, done.stderr
    out = lines(done.stdout)
    found = [sorted(str(m["path"])[len(str(src)) :] for m in x["matches"]) for x in out[:-1]]
    assert found == [
        ["/etc/app.conf", "/etc/gone.conf", "/etc/nginx/nginx.conf"],
        ["/etc/app.conf", "/etc/nginx/nginx.conf", "/srv/new.conf"],
    ]
    assert out[-1] == {"message_type": "summary", "snapshots": 2, "matches": 6}

    by_path = run_cli("-r", cli_repo, "--json", "find", f"{src}/etc/*/*.conf", "-s", "latest")
    (hit,) = lines(by_path.stdout)[:-1]
    assert [m["path"] for m in hit["matches"]] == [f"{src}/etc/nginx/nginx.conf"]

    # a pattern with "/" that does not start with it: at any depth, as restic's find
    partial = run_cli("-r", cli_repo, "--json", "find", "nginx/*.conf", "-s", "latest")
    (hit,) = lines(partial.stdout)[:-1]
    assert [m["path"] for m in hit["matches"]] == [f"{src}/etc/nginx/nginx.conf"]

    case = run_cli("-r", cli_repo, "find", "readme.txt", "-i", "-s", "latest~1")
    assert case.code == 0 and f"{src}/srv/README.TXT" in case.stdout
    assert "1 match in 1 snapshot" in case.stdout
    none = run_cli("-r", cli_repo, "find", "readme.txt")  # case-sensitive by default
    assert none.code == 0 and "0 matches in 0 snapshots" in none.stdout
    assert run_cli("-r", cli_repo, "find", "x", "-s", "ffffffff").code == 2
    assert run_cli("-r", cli_repo, "diff", "latest~2", "latest").code == 2
    assert "latest~N" in run_cli("-r", cli_repo, "diff", "latest~x", "latest").stderr
