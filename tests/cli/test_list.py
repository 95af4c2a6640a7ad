"""list TYPE (issue 17): one id per line, as restic's list, from the store's listing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli, write_file


def _ids(folder: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in folder.rglob("*") if p.is_file())


def test_list_names_every_object_of_a_kind(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> None:
    src = write_file(tmp_path / "src" / "a.txt", b"a\n" * 1000).parent
    for n in range(2):
        write_file(src / f"b{n}.txt", f"b{n}\n".encode())
        assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    repo = Path(cli_repo)

    def listed(what: str) -> list[str]:
        done = run_cli("-r", cli_repo, "list", what)
        assert done.code == 0, done.stderr
        return done.stdout.splitlines()

    snaps = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert listed("snapshots") == sorted(s["id"] for s in snaps)
    assert listed("packs") == sorted(_ids(repo / "data") + _ids(repo / "tree"))
    assert listed("index") == _ids(repo / "index")
    assert listed("keys") == _ids(repo / "keys")
    assert listed("locks") == []
    bad = run_cli("-r", cli_repo, "list", "blobs")
    assert bad.code == 2 and "blobs" in bad.stderr
