"""cat TYPE [ID] (issue 17): one repository object, opened, as restic's cat; never a secret."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3vault import RepoOptions, open_repository
from tests.cli.test_read_only import ReadOnlyStore, _made
from tests.conftest import PASSWORD, RunCli, write_file


def _backup(run_cli: RunCli, repo: str, tmp_path: Path, files: int = 3) -> Path:
    src = tmp_path / "src"
    for n in range(files):
        write_file(src / f"f{n}.txt", f"file {n}\n".encode() * (n + 1))
    done = run_cli("-r", repo, "backup", str(src), "-q")
    assert done.code == 0, done.stderr
    return src


def _doc(run_cli: RunCli, repo: str, *args: str) -> dict:
    done = run_cli("-r", repo, "cat", *args)
    assert done.code == 0, (args, done.stderr)
    assert done.stderr == ""
    return json.loads(done.stdout)


def _stored(repo: str, kind: str, oid: str) -> Path:
    (path,) = [p for p in Path(repo, kind).rglob(f"{oid}*") if p.is_file()]
    return path


def test_cat_prints_each_kind_of_object(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> None:
    src = _backup(run_cli, cli_repo, tmp_path)
    config = _doc(run_cli, cli_repo, "config")
    assert config["pack_size"] == 4 << 20
    assert [set(e) for e in config["epochs"]] == [{"epoch", "started"}]  # no key-check value
    snaps = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    sid = snaps[0]["id"]
    snap = _doc(run_cli, cli_repo, "snapshot", sid[:8])
    assert snap == _doc(run_cli, cli_repo, "snapshot", "latest")
    assert snap["paths"] == [str(src)]
    # the root tree, then down to the source directory's tree and a data blob
    tree = _doc(run_cli, cli_repo, "tree", snap["tree"][:10])
    while tree["nodes"][0]["name"] != "f0.txt":
        tree = _doc(run_cli, cli_repo, "tree", tree["nodes"][0]["subtree"])
    node = tree["nodes"][2]
    (blob,) = node["content"]
    done = run_cli("-r", cli_repo, "cat", "blob", blob[:12])
    assert done.code == 0, done.stderr
    assert done.stdout_bytes == (src / node["name"]).read_bytes()
    # index: every pack with its blobs; a pack's bytes are the stored object's
    (index_id,) = [p.name for p in Path(cli_repo, "index").iterdir()]
    index = _doc(run_cli, cli_repo, "index", index_id[:6])
    pack = next(p for p in index["packs"] if any(b["id"] == blob for b in p["blobs"]))
    assert {b["type"] for b in pack["blobs"]} == {"data"}
    done = run_cli("-r", cli_repo, "cat", "pack", pack["id"][:8])
    assert done.code == 0, done.stderr
    assert done.stdout_bytes == _stored(cli_repo, "data", pack["id"]).read_bytes()
    # restic 0.17's SNAPSHOT:PATH for a tree: the root, or a directory's tree
    assert _doc(run_cli, cli_repo, "tree", "latest") == _doc(run_cli, cli_repo, "tree", f"{sid}:")
    assert _doc(run_cli, cli_repo, "tree", f"{sid[:8]}:{src}") == tree
    done = run_cli("-r", cli_repo, "cat", "tree", f"latest:{src}/f0.txt")
    assert done.code == 2 and "is not a directory in snapshot" in done.stderr
    # --json: each document on one line
    done = run_cli("-r", cli_repo, "--json", "cat", "snapshot", sid)
    assert done.code == 0 and done.stdout.count("\n") == 1
    assert json.loads(done.stdout) == snap


def _encodings(secret: bytes) -> set[str]:
    """Every way a secret could be spelled in text output."""
    forms = {secret.hex(), secret.hex().upper()}
    for enc in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
        forms.add(enc(secret).decode().rstrip("="))
    return {f for f in forms if len(f) >= 16}


def test_cat_key_never_prints_key_material(tmp_path: Path, run_cli: RunCli) -> None:
    repo = str(tmp_path / "repo")
    done = run_cli("-r", repo, "init", "--kdf-cost", "minimum")  # a password and a recovery key
    assert done.code == 0, done.stderr
    opened = open_repository(RepoOptions(url=repo, password=PASSWORD.encode()))
    payload = opened.sealer.payload()
    secrets = [payload.identity, *payload.master_keys.values()]
    key_files = sorted(Path(repo, "keys").iterdir())
    assert len(key_files) == 2
    for path in key_files:
        stored = json.loads(path.read_bytes())
        parts = [stored.get("wrap", {}), stored["payload"], {"mac": stored["mac"]}]
        parts.append({"salt": stored["kdf"]["salt"]})
        for part in parts:
            for field, value in part.items():
                if field != "alg":
                    raw = bytes.fromhex(value) if field == "mac" else base64.b64decode(value)
                    secrets.append(raw)
    forbidden = set().union(*map(_encodings, secrets)) | {PASSWORD}
    kinds = set()
    for path in key_files:
        for args in (("cat", "key", path.name[:10]), ("--json", "cat", "key", path.name)):
            done = run_cli("-r", repo, *args)
            assert done.code == 0, done.stderr
            text = done.stdout + done.stderr
            leaked = [f for f in forbidden if f in text]
            assert not leaked, (args, leaked)
            shown = json.loads(done.stdout)
            assert {"wrap", "payload", "mac", "kms"}.isdisjoint(shown)
            assert shown["id"] == path.name
            assert set(shown["kdf"]) == {"alg", "memory_kib", "iterations", "lanes"}
            kinds.add(shown["kind"])
    assert kinds == {"password", "recovery"}


def test_cat_refuses_unknown_types_ids_and_ambiguous_prefixes(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, cli_repo, tmp_path, files=20)  # 20 data blobs: two share a first digit
    blobs = [
        b["id"]
        for index in Path(cli_repo, "index").iterdir()
        for p in _doc(run_cli, cli_repo, "index", index.name)["packs"]
        for b in p["blobs"]
    ]
    firsts = [b[0] for b in blobs]
    shared = next(d for d in firsts if firsts.count(d) > 1)
    cases = [
        (("cat", "blobs", "00"), "'blobs' is not one of"),
        (("cat", "blob", shared), "ambiguous"),
        (("cat", "snapshot", "ffffffffffff"), "no snapshot with id"),
        (("cat", "pack", "zz"), "is not a pack id"),
        (("cat", "key"), "needs an id"),
        (("cat", "config", "abc"), "takes no id"),
    ]
    for args, words in cases:
        done = run_cli("-r", cli_repo, *args)
        assert done.code == 2, (args, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert done.stdout == ""
        if args[1] != "blobs":  # click's usage error has its usage lines
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def _flip(path: Path, at: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def test_cat_names_a_damaged_object_and_exits_13(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    _backup(run_cli, cli_repo, tmp_path)
    password = write_file(tmp_path / "pw2", b"another password\n")
    done = run_cli("-r", cli_repo, "key", "add", "--new-password-file", str(password))
    assert done.code == 0, done.stderr
    snap = _doc(run_cli, cli_repo, "snapshot", "latest")
    root = _doc(run_cli, cli_repo, "tree", snap["tree"])
    (index_id,) = [p.name for p in Path(cli_repo, "index").iterdir()]
    packs = _doc(run_cli, cli_repo, "index", index_id)["packs"]
    data_pack = next(p for p in packs if p["blobs"][0]["type"] == "data")
    blob = data_pack["blobs"][0]["id"]
    sid = next(Path(cli_repo, "snapshots").iterdir()).name.split(".")[0]
    current = json.loads(run_cli("-r", cli_repo, "--json", "key", "list").stdout)
    other = next(k["id"] for k in current if not k["current"])
    damaged = {
        ("snapshot", sid): _stored(cli_repo, "snapshots", sid),
        ("index", index_id): _stored(cli_repo, "index", index_id),
        ("blob", blob): _stored(cli_repo, "data", data_pack["id"]),
        ("key", other): _stored(cli_repo, "keys", other),
    }
    for (kind, _oid), path in damaged.items():
        _flip(path, 30 if kind == "blob" else 60)  # a pack: inside its first blob
    for (kind, oid), path in damaged.items():
        done = run_cli("-r", cli_repo, "cat", kind, oid[:12])
        assert done.code == 13, (kind, done.stdout, done.stderr)
        (line,) = done.stderr.splitlines()
        assert path.name in line, (kind, line)
        assert done.stdout == ""
    # a damaged pack: its bytes as stored (for inspection), and exit 13 naming it
    done = run_cli("-r", cli_repo, "cat", "pack", data_pack["id"])
    assert done.code == 13, done.stderr
    assert done.stdout_bytes == damaged[("blob", blob)].read_bytes()
    assert data_pack["id"] in done.stderr
    # the tree packs are whole: the trees still come out
    assert _doc(run_cli, cli_repo, "tree", snap["tree"]) == root


@pytest.fixture
def read_only(
    request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    """A repository this CLI may only read (the unprivileged way of tests/cli/test_read_only)."""
    yield from _made("unprivileged", request, cli_env, run_cli)


def test_cat_works_on_a_read_only_store(read_only: ReadOnlyStore) -> None:
    keys = read_only.run("-r", read_only.url, "list", "keys").stdout.split()
    for args in (("config",), ("snapshot", "latest"), ("key", keys[0][:8])):
        done = read_only.run("-r", read_only.url, "cat", *args)
        assert done.code == 0, (args, done.stderr)
        assert done.stderr == "", (args, done.stderr)
        json.loads(done.stdout)
