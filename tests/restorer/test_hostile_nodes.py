"""One bad node fails that entry, one bad tree that directory: everything else is restored, each
problem is named by path, and the exit code says what happened (3: entries refused or not fully
restored; 13: data missing or damaged). Never an internal error, never a traceback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.restorer import nodes
from s3vault.restorer.locator import ROOT, Entry, Locator
from s3vault.restorer.sinks import FilesystemSink
from tests.conftest import RepoHandle, RunCli
from tests.restorer.forge import MTIME, Forge

ROOT_IS_ROOT = os.geteuid() == 0


def hostile_nodes(forge: Forge) -> list[Node]:
    """Nodes no backup writes, each beside good ones: (name, what is wrong) in the name."""
    f = forge.file
    return [
        f(b"size-huge", b"six b.", size=2**62),
        f(b"size-negative", b"six b.", size=-5),
        f(b"size-short", b"six b.", size=3),
        f(b"uid-huge", b"owner", uid=2**40, gid=7),
        f(b"mtime-huge", b"times", mtime_ns=2**80),
        f(b"mtime-negative", b"times", mtime_ns=-(2**80)),
        f(b"mode-huge", b"mode", mode=2**40),
        f(b"mode-negative", b"mode", mode=-1),
        f(b"xattr-nul", b"xattr", xattrs=((b"user.a\0b", b"v"), (b"user.ok", b"kept"))),
        # a namespace no file system knows: refused (ENOTSUP) as on one without xattrs
        f(b"xattr-unsupported", b"xattr", xattrs=((b"bogus.a", b"v"),)),
        Node(name=b"link-nul", type=NodeType.SYMLINK, link_target=b"a\0b"),
        Node(name=b"link-empty", type=NodeType.SYMLINK, link_target=b""),
        Node(name=b"dev-huge", type=NodeType.CHARDEV, rdev=2**70),
    ]


def save_hostile_snapshot(handle: RepoHandle, *, damaged: bool) -> str:
    """A snapshot of hostile nodes and good files; with ``damaged``, also a directory whose
    tree is not in the repository and one whose tree fails authentication. Returns the URL's
    tree pack to damage (or "")."""
    forge = Forge(handle.open())
    f = forge.file
    undecodable = forge.raw_tree(
        [f(b"sibling.txt", b"beside odd nodes")],
        [
            {"name": "whiteout", "type": "whiteout"},  # a type of a newer s3vault
            {"name": "\ud800", "type": "file"},  # not Unicode
            {"name": "size-text", "type": "file", "size": "12"},
            [1, 2],  # not even an object
        ],
    )
    nodes = [
        f(b"good.txt", b"good data\n"),
        forge.dir(b"dir", forge.tree([f(b"inside.txt", b"inside\n")])),
        forge.dir(b"odd", undecodable),
        forge.dir(b"sub", forge.tree(hostile_nodes(forge))),
        *hostile_nodes(forge),
    ]
    bad_tree = None
    if damaged:
        bad_tree = forge.tree([f(b"lost.txt", b"in a damaged tree")])
        nodes += [
            forge.dir(b"missing", ObjectId(bytes(range(32)))),
            forge.dir(b"unauthentic", bad_tree),
        ]
    forge.finish(forge.tree(nodes))
    if bad_tree is None:
        return ""
    loc = forge.repo.index.lookup(BlobType.TREE, bad_tree)
    assert loc is not None
    pack = Path(handle.url, object_name(ObjectKind.TREE, loc.pack_id))
    data = bytearray(pack.read_bytes())
    data[loc.offset + loc.length // 2] ^= 0x40
    pack.write_bytes(bytes(data))
    return str(pack)


Lines = dict[str, list[dict[str, str]]]  # message_type → the JSON lines of that type


def run_json(
    run_cli: RunCli, handle: RepoHandle, cache: Path, *args: str
) -> tuple[int, Lines, str]:
    done = run_cli("--json", "-r", handle.url, "--cache-dir", str(cache), *args)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    lines += [json.loads(line) for line in done.stderr.splitlines()]
    by_type: Lines = {}
    for line in lines:
        by_type.setdefault(line["message_type"], []).append(line)
    return done.code, by_type, done.stderr + done.stdout


REFUSED = {
    "/size-huge": "size 4611686018427387904 does not match its content (6 bytes)",
    "/size-negative": "size -5 is negative",
    "/size-short": "size 3 does not match its content (6 bytes)",
    "/link-nul": "symlink target contains NUL",
    "/link-empty": "symlink without a target",
    "/dev-huge": f"device number {2**70} is out of range",
}
METADATA = {  # file → the attribute that is reported; its content is restored
    "mtime-huge": "times: mtime",
    "mtime-negative": "times: mtime",
    "mode-huge": "mode: ",
    "mode-negative": "mode: -1 is out of range",
    "xattr-nul": "xattr: the name b'user.a\\x00b' contains NUL",
    "xattr-unsupported": "xattr: bogus.a: Operation not supported",
}
if ROOT_IS_ROOT:
    METADATA["uid-huge"] = f"owner: uid {2**40} is out of range"


def check_restored(target: Path, warnings: dict[str, str]) -> None:
    """Everything but the refused entries is there, with the attributes that could be set."""
    assert (target / "good.txt").read_bytes() == b"good data\n"
    assert (target / "dir" / "inside.txt").read_bytes() == b"inside\n"
    assert (target / "odd" / "sibling.txt").read_bytes() == b"beside odd nodes"
    for base in ("", "/sub"):
        for path, why in REFUSED.items():
            assert warnings[base + path] == why
            assert not os.path.lexists(f"{target}{base}{path}")
        for name, attribute in METADATA.items():
            assert attribute in warnings[f"{base}/{name}"]
        assert (target / base.lstrip("/") / "uid-huge").read_bytes() == b"owner"
        xattr = target / base.lstrip("/") / "xattr-nul"
        assert os.getxattr(xattr, "user.ok") == b"kept"  # the good attribute is still set
        assert stat.S_IMODE(xattr.stat().st_mode) == 0o644
        assert xattr.stat().st_mtime_ns == MTIME
    for name in ("whiteout", "#2", "size-text", "#4"):  # by position when nameless
        assert warnings[f"/odd/{name}"].startswith("node does not decode: tree node: ")


def test_hostile_nodes_fail_alone_and_exit_3(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    save_hostile_snapshot(local_repo, damaged=False)
    target = tmp_path / "t"
    args = ("restore", "latest", "-t", str(target))
    code, out, text = run_json(run_cli, local_repo, tmp_path / "c", *args)
    assert "internal error" not in text
    assert "Traceback" not in text
    assert code == 3, text
    assert "error" not in out
    warnings = {w["item"]: w["message"] for w in out["warning"]}
    check_restored(target, warnings)
    assert out["summary"][0]["errors"] == 0


def test_missing_and_damaged_trees_fail_their_directory_and_exit_13(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    save_hostile_snapshot(local_repo, damaged=True)
    target = tmp_path / "t"
    args = ("restore", "latest", "-t", str(target))
    code, out, text = run_json(run_cli, local_repo, tmp_path / "c", *args)
    assert "internal error" not in text
    assert "Traceback" not in text
    assert code == 13, text
    errors = {e["item"]: e["message"] for e in out["error"]}
    assert "tree blob" in errors["/missing/"]
    assert "is not in the index" in errors["/missing/"]
    assert "/unauthentic/" in errors
    assert "cannot be read" in errors["/unauthentic/"]
    check_restored(target, {w["item"]: w["message"] for w in out["warning"]})
    assert (target / "missing").is_dir()  # the directory itself is in the snapshot ...
    assert not (target / "unauthentic" / "lost.txt").exists()  # ... what was in it is lost


@pytest.mark.parametrize("damaged", [False, True])
def test_restore_test_fails_on_every_entry_it_could_not_restore(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli, damaged: bool
) -> None:
    save_hostile_snapshot(local_repo, damaged=damaged)
    for no_disk in ((), ("--no-disk",)):
        code, out, text = run_json(
            run_cli, local_repo, tmp_path / "c", "restore-test", "--no-record", *no_disk
        )
        assert "internal error" not in text
        assert code == 13, text
        failed = {m["item"] for m in out["mismatch"]}
        for path in REFUSED:
            assert path in failed
            assert f"/sub{path}" in failed
        assert "/odd/whiteout" in failed
        if damaged:
            assert {"/missing/", "/unauthentic/"} <= failed
        assert out["summary"][0]["passed"] is False


# Any node, however odd, makes the sink return a warning or nothing: never an exception.
huge_ints = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**31, 2**32, 2**63, -(2**63) - 1])
)
odd_bytes = st.binary(max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(list(NodeType)),
    ints=st.fixed_dictionaries(
        dict.fromkeys(("mode", "uid", "gid", "mtime_ns", "atime_ns", "rdev"), huge_ints)
    ),
    target=st.one_of(st.none(), odd_bytes),
    xattrs=st.lists(st.tuples(odd_bytes, odd_bytes), max_size=3),
    owners=st.booleans(),
)
def test_sink_turns_any_node_into_warnings(
    tmp_path: Path,
    kind: NodeType,
    ints: dict[str, int],
    target: bytes | None,
    xattrs: list[tuple[bytes, bytes]],
    owners: bool,
) -> None:
    node = Node(name=b"x", type=kind, link_target=target, xattrs=tuple(xattrs), **ints)
    one_by_one = [
        nodes.owner_problem(node),
        nodes.mode_problem(node),
        nodes.times_problem(node),
        *(nodes.xattr_problem(key) for key, _ in xattrs),
    ]
    assert nodes.applicable(node) == (not any(one_by_one))  # the fast path agrees
    where = tmp_path / "sink"
    where.mkdir(exist_ok=True)
    sink = FilesystemSink(Locator(os.fsencode(where), ()), owners=owners and ROOT_IS_ROOT)
    entry = Entry(ROOT, b"x")
    if kind is NodeType.FILE:
        sink.create_file(entry, 3)
        warning = ""
    elif kind is NodeType.DIR:
        sink.make_dir(entry)
        warning = ""
    else:
        warning = sink.make_other(entry, node)
    assert isinstance(warning, str)
    if not warning and os.path.lexists(where / "x"):
        assert isinstance(sink.set_metadata(entry, node), str)
    for leftover in where.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            leftover.rmdir()
        else:
            leftover.unlink()


def test_listing_and_dumping_hostile_nodes_says_what_it_cannot_show(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    """`ls -l` (a mode of 2^40), `ls --json` (a time of 2^80 ns) and `dump` (a device number
    no tar header holds) ended in an internal error: the listings show what they can, dump
    names the entry and exits 13."""
    save_hostile_snapshot(local_repo, damaged=False)
    base = ("-r", local_repo.url, "--cache-dir", str(tmp_path / "c"))
    listed = run_cli(*base, "ls", "-l", "latest")  # 13: the snapshot's tree /odd is damaged
    assert listed.code == 13 and "internal error" not in listed.stderr, listed.stderr
    mtime = next(line for line in listed.stdout.splitlines() if line.endswith("/mtime-huge"))
    assert "?" * 19 in mtime
    as_json = run_cli(*base, "--json", "ls", "latest")
    assert as_json.code == 13 and "internal error" not in as_json.stderr, as_json.stderr
    nodes = {n["name"]: n for n in map(json.loads, as_json.stdout.splitlines()) if "name" in n}
    assert nodes["mtime-huge"]["mtime"] is None
    assert nodes["mode-huge"]["mode"] == 0  # Go's FileMode of a file: 2^40 has no mode bits
    found = run_cli(*base, "--json", "find", "mtime-*")  # the same internal error in find
    assert found.code == 13 and "internal error" not in found.stderr, found.stderr
    messages = list(map(json.loads, found.stdout.splitlines()))
    (matches,) = [m for m in messages if m["message_type"] == "matches"]
    times = {m["path"].rsplit("/", 1)[1]: m["mtime"] for m in matches["matches"]}
    assert times["mtime-huge"] is None and times["mtime-negative"] is None
    assert "?" * 19 in run_cli(*base, "find", "-l", "mtime-huge").stdout
    dumped = run_cli(*base, "dump", "latest", "/", "--target", str(tmp_path / "all.tar"))
    assert dumped.code == 13 and "/dev-huge" in dumped.stderr, dumped.stderr
    assert "does not fit a tar header" in dumped.stderr
    zipped = run_cli(*base, "dump", "-a", "zip", "latest", "/", "--target", str(tmp_path / "a.zip"))
    assert zipped.code == 13 and "internal error" not in zipped.stderr, zipped.stderr
