"""dump (issue 17): one file to stdout byte for byte, a directory as tar or zip whose
extraction equals the source, damage said with exit 13, usage errors with exit 2."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from s3vault.ids import ObjectId
from tests.conftest import RepoHandle, RunCli, write_file
from tests.restorer.forge import Forge
from tests.trees import snapshot_tree


@pytest.fixture
def backed_up(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> Path:
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(3 << 20))  # several chunks
    write_file(src / "etc" / "a.conf", b"a = 1\n")
    write_file(src / "etc" / "empty", b"")
    write_file(src / "odd name \xe9.txt".encode().decode(), b"odd\n")
    os.symlink("etc/a.conf", src / "link")
    (src / "etc" / "a.conf").chmod(0o600)
    done = run_cli("-r", cli_repo, "backup", str(src), "-q")
    assert done.code == 0, done.stderr
    return src


def test_a_file_is_its_bytes(cli_repo: str, backed_up: Path, run_cli: RunCli) -> None:
    for name in ("big.bin", "etc/a.conf", "etc/empty"):
        done = run_cli("-r", cli_repo, "dump", "latest", str(backed_up / name))
        assert done.code == 0, done.stderr
        assert done.stdout_bytes == (backed_up / name).read_bytes(), name


def test_a_path_with_dots_is_cleaned_as_restic_cleans_it(
    cli_repo: str, backed_up: Path, run_cli: RunCli
) -> None:
    """`dump latest /src/etc/../etc/a.conf` said "not in snapshot" (exit 2) where `ls` and
    restic's dump found it (an attack pass, 2026-12-07)."""
    for spelled in (f"{backed_up}/etc/../etc/a.conf", f"{backed_up}/./etc//a.conf"):
        done = run_cli("-r", cli_repo, "dump", "latest", spelled)
        assert done.code == 0, (spelled, done.stderr)
        assert done.stdout_bytes == b"a = 1\n"
    done = run_cli("-r", cli_repo, "dump", "latest", f"{backed_up}/etc/..")
    assert done.code == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout_bytes), mode="r|") as tar:
        names = tar.getnames()
    assert str(backed_up / "big.bin").lstrip("/") in names, names


def test_a_directory_as_tar_extracts_to_the_source(
    cli_repo: str, backed_up: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    done = run_cli("-r", cli_repo, "dump", "latest", str(backed_up))
    assert done.code == 0, done.stderr
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(done.stdout_bytes), mode="r|") as tar:
        tar.extractall(out, filter="tar")
    extracted = out / str(backed_up).lstrip("/")
    assert snapshot_tree(extracted, times=False) == snapshot_tree(backed_up, times=False)


def test_extended_attributes_go_into_the_tar_and_one_a_tar_cannot_hold_is_said(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """A name that is UTF-8 but not ASCII, and one that is no UTF-8 (which backup keeps since
    2026-12-07), were both left out of the tar without a word (an attack pass): the first is
    written, the second said."""
    src = write_file(tmp_path / "src" / "f", b"data\n").parent
    try:
        os.setxattr(src / "f", "user.caf\u00e9", b"utf-8 name")
        os.setxattr(src / "f", b"user.odd\xff", b"no utf-8 name")
    except OSError:
        pytest.skip("this file system has no user xattrs")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "dump", "latest", str(src))
    assert done.code == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout_bytes), mode="r|") as tar:
        headers = {m.name: m.pax_headers for m in tar if m.isfile()}
    (held,) = headers.values()
    assert held["SCHILY.xattr.user.caf\u00e9"] == "utf-8 name"
    assert "left out of the tar" in done.stderr and "user.odd\\xff" in done.stderr


def test_a_directory_as_zip_holds_every_file(
    cli_repo: str, backed_up: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    target = tmp_path / "src.zip"
    done = run_cli(
        "-r", cli_repo, "dump", "--archive", "zip", "latest", str(backed_up), "-t", str(target)
    )
    assert done.code == 0, done.stderr
    prefix = str(backed_up).lstrip("/") + "/"
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        for path in backed_up.rglob("*"):
            if path.is_file() and not path.is_symlink():
                member = prefix + str(path.relative_to(backed_up))
                assert zf.read(member) == path.read_bytes(), member
        assert prefix + "link" in names and prefix + "etc/" in names


def test_a_zip_holds_fifos_and_devices_by_their_mode(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """A FIFO and a device node were left out of a zip without a word (exit 0); restic's zip
    holds them as empty entries whose mode says what they are, as this one now does."""
    src = tmp_path / "special"
    src.mkdir()
    os.mkfifo(src / "pipe")
    kinds = {"pipe": stat.S_IFIFO}
    if os.geteuid() == 0:
        os.mknod(src / "null", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        kinds["null"] = stat.S_IFCHR
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "s.zip"
    done = run_cli("-r", cli_repo, "dump", "-a", "zip", "latest", str(src), "-t", str(target))
    assert done.code == 0, done.stderr
    with zipfile.ZipFile(target) as zf:
        prefix = str(src).lstrip("/") + "/"
        for name, kind in kinds.items():
            info = zf.getinfo(prefix + name)
            assert stat.S_IFMT(info.external_attr >> 16) == kind, name
            assert zf.read(info) == b""


def test_bad_paths_and_formats_exit_2(cli_repo: str, backed_up: Path, run_cli: RunCli) -> None:
    missing = run_cli("-r", cli_repo, "dump", "latest", str(backed_up / "nope"))
    assert missing.code == 2 and "is not in snapshot" in missing.stderr
    # a path through a file or a link is not that file (it gave the file's archive, exit 0)
    for through in ("etc/a.conf/x", "link/x", "big.bin/x/y"):
        for command in ("dump", "ls"):
            done = run_cli("-r", cli_repo, command, "latest", str(backed_up / through))
            assert done.code == 2, (command, through, done.stdout_bytes[:100])
            assert "is not in snapshot" in done.stderr and "not a directory" in done.stderr
            assert done.stdout_bytes == b""
    bad = run_cli("-r", cli_repo, "dump", "--archive", "rar", "latest", str(backed_up))
    assert bad.code == 2
    link = run_cli("-r", cli_repo, "dump", "latest", str(backed_up / "link"))
    assert link.code == 2 and "not a file" in link.stderr


def test_a_damaged_file_exits_13(cli_repo: str, backed_up: Path, run_cli: RunCli) -> None:
    for pack in (Path(cli_repo) / "data").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF
            pack.write_bytes(bytes(data))
    done = run_cli("-r", cli_repo, "--no-cache", "dump", "latest", str(backed_up / "big.bin"))
    assert done.code == 13, done.stderr
    assert len(done.stdout_bytes) < (3 << 20)


@pytest.mark.parametrize("forged", ["damaged-pack", "other-hash"])
def test_a_zip_cut_short_by_damage_does_not_read_as_whole(
    local_repo: RepoHandle, tmp_path: Path, run_cli: RunCli, forged: str
) -> None:
    """dump -a zip to stdout exited 13 on damaged data, but the zip it left tested fine
    (`unzip -t`: "No errors detected"), with the damaged file cut short and the files after it
    missing: closing on the error wrote the member's end and the archive's central directory
    (an attack pass, 2026-12-08). The archive now ends where the error came, unreadable as a
    zip, as a tar ends mid-member."""
    forge = Forge(local_repo.open())
    first = forge.file(b"a.bin", os.urandom(300_000))
    fields = (
        {"content_hash": forge.file(b"x", b"y").content_hash} if forged != "damaged-pack" else {}
    )
    bad = forge.file(b"b.bin", os.urandom(300_000), **fields)
    forge.finish(forge.tree([first, bad, forge.file(b"c.bin", b"after\n")]))
    if forged == "damaged-pack":
        packs = [p for p in (Path(local_repo.url) / "data").rglob("*") if p.is_file()]
        for pack in packs:
            data = bytearray(pack.read_bytes())
            data[-2000] ^= 0xFF  # near its end: a blob stored after a.bin's
            pack.write_bytes(bytes(data))
    done = run_cli(
        "-r", local_repo.url, "--cache-dir", str(tmp_path / "c"), "dump", "latest", "/",
        "--archive", "zip",
    )  # fmt: skip
    assert done.code == 13, (done.code, done.stderr)
    assert done.stdout_bytes  # what was written before the error stays (a pipe took it)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(done.stdout_bytes))


def test_a_path_through_a_directory_that_cannot_be_read_names_the_directory(
    local_repo: RepoHandle, tmp_path: Path, run_cli: RunCli
) -> None:
    """`dump` of a file below a directory whose tree is not in the index said "Fatal: tree
    blob 44615911 is not in the index": no word of which directory (an attack pass,
    2026-12-08)."""
    forge = Forge(local_repo.open())
    gone = ObjectId(os.urandom(32))
    inner = forge.dir(b"inner", gone)
    forge.finish(forge.tree([forge.dir(b"etc", forge.tree([inner]))]))
    for argv in (("dump", "latest", "/etc/inner/f"), ("ls", "latest", "/etc/inner/f")):
        done = run_cli("-r", local_repo.url, "--cache-dir", str(tmp_path / "c"), *argv)
        assert done.code == 13, (argv, done.stderr)
        assert f"/etc/inner: directory cannot be read: tree blob {gone.short}" in done.stderr, (
            argv,
            done.stderr,
        )


def test_odd_bytes_in_a_name_reach_the_tar_as_they_were(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = tmp_path / "odd"
    src.mkdir()
    (Path(os.fsdecode(bytes(src) + b"/\xffname\x01.bin"))).write_bytes(b"odd\n")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    done = run_cli("-r", cli_repo, "dump", "latest", str(src))
    assert done.code == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout_bytes), mode="r|") as tar:
        names = [os.fsencode(m.name) for m in tar]
    assert names == [bytes(src).lstrip(b"/") + b"/\xffname\x01.bin"]


def test_a_file_whose_name_is_no_utf8_is_its_bytes_not_an_archive(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """A Latin-1 name given as it is on disk: the file's own bytes, as for any name (it came
    out as a tar of the file, exit 0: the shown path, escaped, was compared with the given)."""
    src = tmp_path / "latin1"
    src.mkdir()
    path = Path(os.fsdecode(bytes(src) + b"/caf\xe9.sql"))
    path.write_bytes(b"SQL DATA\n")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    done = run_cli("-r", cli_repo, "dump", "latest", str(path))
    assert done.code == 0, done.stderr
    assert done.stdout_bytes == b"SQL DATA\n"


@pytest.mark.parametrize("archive", ["tar", "zip"])
@pytest.mark.parametrize("forged", ["other-hash", "longer", "shorter"])
def test_a_file_whose_data_does_not_match_its_node_exits_13_in_an_archive(
    local_repo: RepoHandle, tmp_path: Path, run_cli: RunCli, archive: str, forged: str
) -> None:
    """Every blob authenticates, but the file's node does not match them (a content hash of
    other bytes, or a size that is not theirs): dump as zip said so (exit 13); as tar, the
    default, it wrote the archive and exited 0 (tarfile takes exactly the size and never
    reads on to the end, where the check was)."""
    forge = Forge(local_repo.open())
    data = os.urandom(5000)
    fields = {
        "other-hash": {"content_hash": forge.file(b"x", os.urandom(5000)).content_hash},
        "longer": {"size": 4000},
        "shorter": {"size": 6000},
    }[forged]
    forge.finish(forge.tree([forge.file(b"f.bin", data, **fields)]))
    done = run_cli(
        "-r", local_repo.url, "--cache-dir", str(tmp_path / "c"), "dump", "latest", "/",
        "--archive", archive,
    )  # fmt: skip
    assert done.code == 13, (done.code, done.stderr)
    assert "/f.bin" in done.stderr and "damaged" in done.stderr


def test_a_zip_names_each_member_by_its_own_bytes(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """Found by an operator's attack pass (2026-12-06): a name with a byte that is no UTF-8
    (f\\xe9) and a file literally named "f\\xe9" became one zip member twice (zipfile warned
    "Duplicate name" on stderr, exit 0) and extracting kept one of them. Members are named by
    their bytes now, as restic's zip names them: UTF-8 (flagged) when they are, else raw."""
    src = tmp_path / "src"
    src.mkdir()
    files = {b"f\xe9": b"RAW", b"f\\xe9": b"LITERAL", "café".encode(): b"UTF-8"}
    for name, data in files.items():
        (src / os.fsdecode(name)).write_bytes(data)
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    done = run_cli("-r", cli_repo, "dump", "--archive", "zip", "latest", str(src))
    assert (done.code, done.stderr) == (0, "")
    prefix = os.fsencode(src).lstrip(b"/") + b"/"
    with zipfile.ZipFile(io.BytesIO(done.stdout_bytes)) as zf:
        members = {}
        for info in zf.infolist():
            utf8 = bool(info.flag_bits & 0x800)
            raw = info.filename.encode("utf-8" if utf8 else "cp437")
            members[raw.removeprefix(prefix)] = (zf.read(info), utf8)
    assert members == {
        b"f\xe9": (b"RAW", False),
        b"f\\xe9": (b"LITERAL", False),
        "café".encode(): (b"UTF-8", True),
    }


def test_a_tar_keeps_extended_attributes_as_gnu_tar_writes_them(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """SCHILY.xattr.* pax records, as restic's tar and GNU tar's --xattrs (they were left out
    without a word); a value that is no text passes byte for byte."""
    src = tmp_path / "x"
    write_file(src / "d" / "f", b"data\n")
    try:
        os.setxattr(src / "d" / "f", "user.text", b"v1")
        os.setxattr(src / "d" / "f", "user.bytes", b"\xff\x00\x01")
        os.setxattr(src / "d", "user.dir", b"on a directory")
    except OSError:
        pytest.skip("this file system keeps no user xattrs")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    target = tmp_path / "x.tar"
    done = run_cli("-r", cli_repo, "dump", "latest", str(src), "-t", str(target))
    assert done.code == 0, done.stderr
    prefix = str(src).lstrip("/")
    with tarfile.open(target) as tar:
        found = {
            (m.name, k): os.fsencode(v)
            for m in tar.getmembers()
            for k, v in m.pax_headers.items()
            if k.startswith("SCHILY.xattr.")
        }
    assert found == {
        (f"{prefix}/d/f", "SCHILY.xattr.user.text"): b"v1",
        (f"{prefix}/d/f", "SCHILY.xattr.user.bytes"): b"\xff\x00\x01",
        (f"{prefix}/d", "SCHILY.xattr.user.dir"): b"on a directory",
    }
