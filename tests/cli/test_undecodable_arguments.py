"""Arguments that are no UTF-8 (a shell's $'\\xe9', a Latin-1 file name pasted in): what is a
path works on the path's bytes, what the repository stores as text (a tag, a host name, a key
label) is refused with exit 2 before anything is written, and nothing fails after the work is
done. Found by a hostile-user pass: every such command ended in a traceback and exit 1 once its
work was done (the audit record could not encode the command line), and a backup with such a
tag or host uploaded everything and then failed to encode its snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import RunCli, write_file


def _raw(text: str) -> str:
    """``text`` with \\xNN as the byte itself, as a command line decodes it."""
    return os.fsdecode(text.encode("latin-1"))


def test_a_latin1_path_backs_up_restores_and_is_audited(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = Path(os.fsdecode(bytes(tmp_path) + b"/Bj\xf6rk"))
    write_file(src / "a", b"a\n")
    done = run_cli("-r", cli_repo, "backup", str(src), "--exclude", _raw("x\xe9"))
    assert done.code == 0, done.stderr
    target = Path(os.fsdecode(bytes(tmp_path) + b"/t\xe9"))
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target))
    assert done.code == 0, done.stderr
    assert (target / src.relative_to("/") / "a").read_bytes() == b"a\n"
    audit = run_cli("-r", cli_repo, "--json", "audit")
    assert audit.code == 0, audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    ops = [r for r in records if r.get("operation") in ("backup", "restore")]
    assert [r["operation"] for r in ops] == ["backup", "restore"]
    assert "/Bj\\xf6rk" in " ".join(ops[0]["arguments"])  # spelled as ls shows it
    snaps = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    assert snaps[0]["paths"] == [str(tmp_path) + "/Bj\\xf6rk"]
    assert snaps[0]["excludes"] == ["x\\xe9"]


def test_a_tag_host_or_label_that_is_no_utf8_is_refused_before_anything_is_written(
    cli_repo: str, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    write_file(src / "f", os.urandom(100_000))
    data = Path(cli_repo) / "data"
    before = sorted(data.rglob("*"))
    for option in ("--tag", "--host"):
        done = run_cli("-r", cli_repo, "backup", str(src), option, _raw("a\xe9"))
        assert done.code == 2, done.stderr
        assert f"{option} 'a\\xe9' is not UTF-8 text" in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(data.rglob("*")) == before  # nothing uploaded
    assert json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout) == []
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    tag = run_cli("-r", cli_repo, "tag", "--add", _raw("b\xe9"), "latest")
    assert tag.code == 2 and "--add 'b\\xe9' is not UTF-8 text" in tag.stderr
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "other"}
    add = ("key", "add", "--kdf-cost", "minimum", "--label", _raw("c\xe9"))
    key = run_cli("-r", cli_repo, *add, env=env)
    assert key.code == 2 and "--label 'c\\xe9' is not UTF-8 text" in key.stderr
    rewrite = run_cli("-r", cli_repo, "rewrite", "latest", "--new-host", _raw("d\xe9"))
    assert rewrite.code == 2 and "--new-host 'd\\xe9' is not UTF-8 text" in rewrite.stderr
    forget = run_cli("-r", cli_repo, "forget", "--host", _raw("h\xe9"), "--keep-last", "1")
    assert forget.code == 0, forget.stderr  # a filter: it matches no snapshot


def test_a_stdin_file_name_that_is_no_utf8_is_its_bytes(cli_repo: str, run_cli: RunCli) -> None:
    name = _raw("f\xe9")
    done = run_cli("-r", cli_repo, "backup", "--stdin", "--stdin-filename", name, input=b"stream\n")
    assert done.code == 0, done.stderr
    dump = run_cli("-r", cli_repo, "dump", "latest", _raw("/f\xe9"))
    assert dump.code == 0, dump.stderr
    assert dump.stdout_bytes == b"stream\n"


def test_a_latin1_name_is_selected_by_its_own_bytes(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """restore --include, find and snapshots --path with the name's own bytes (restic matches
    bytes): each found nothing (only wildcards did), while ls found the name."""
    src = Path(os.fsdecode(bytes(tmp_path) + b"/Bj\xf6rk"))
    write_file(src / "b", b"b\n")
    write_file(tmp_path / "other" / "c", b"c\n")
    assert run_cli("-r", cli_repo, "backup", str(src), str(tmp_path / "other"), "-q").code == 0
    name = _raw("Bj\xf6rk")
    out = tmp_path / "out"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(out), "--include", name)
    assert done.code == 0, done.stderr
    restored = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert restored == [(src / "b").relative_to("/")]
    found = run_cli("-r", cli_repo, "--json", "find", name)
    assert found.code == 0, found.stderr
    paths = [m["path"] for m in json.loads(found.stdout.splitlines()[0])["matches"]]
    assert any(p.endswith("/Bj\ufffdrk") for p in paths), paths  # restic's JSON: U+FFFD
    by_path = run_cli("-r", cli_repo, "--json", "find", _raw("Bj\xf6rk/b"))
    assert by_path.code == 0, by_path.stderr
    (match,) = json.loads(by_path.stdout.splitlines()[0])["matches"]
    assert match["path"].endswith("/Bj\ufffdrk/b"), match
    listed = run_cli("-r", cli_repo, "--json", "snapshots", "--path", str(src))
    assert len(json.loads(listed.stdout)) == 1


def test_a_name_that_reads_like_an_escaped_byte_is_not_the_byte(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """A Latin-1 'caf\\xe9' and a file literally named 'caf\\xe9' (a backslash, an x, two hex
    digits) look alike as ls shows them; restore's patterns match each by its own bytes."""
    src = tmp_path / "src"
    write_file(Path(os.fsdecode(bytes(src) + b"/caf\xe9")), b"latin1\n")
    write_file(src / "caf\\xe9", b"literal\n")
    write_file(src / "cafe", b"plain\n")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    out = tmp_path / "out"
    done = run_cli(
        "-r", cli_repo, "restore", "latest", "-t", str(out), "--exclude", _raw("caf\xe9")
    )
    assert done.code == 0, done.stderr
    here = out / src.relative_to("/")
    assert sorted(p.name for p in here.iterdir()) == ["caf\\xe9", "cafe"]
    assert (here / "caf\\xe9").read_bytes() == b"literal\n"


def test_json_lines_name_a_file_that_is_no_utf8_as_ls_does(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`--json -vv backup`'s verbose_status lines carried the name's raw byte (\\xf6): stdout
    was no UTF-8 and JSON readers failed. Every line is UTF-8 JSON, the name as ls --json
    and restic's JSON give it (the byte as U+FFFD)."""
    src = tmp_path / "src"
    src.mkdir()
    with open(os.path.join(os.fsencode(src), b"Bj\xf6rk"), "wb") as f:
        f.write(b"x")
    done = run_cli("-r", cli_repo, "--json", "-vv", "backup", str(src))
    assert done.code == 0, done.stderr
    lines = [json.loads(line.decode("utf-8")) for line in done.stdout_bytes.splitlines()]
    items = {m.get("item") for m in lines if m["message_type"] == "verbose_status"}
    listed = run_cli("-r", cli_repo, "--json", "ls", "latest")
    names = {json.loads(line)["path"] for line in listed.stdout.splitlines()[1:]}
    shown = str(src / "Bj\ufffdrk")
    assert shown in items and shown in names, (items, names)


def test_a_metrics_file_takes_a_repository_path_that_is_no_utf8(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """The label carrying the repository's path: a UnicodeEncodeError after the snapshot was
    saved (exit 1, a temporary file left). It is written with the byte as \\xNN."""
    url = _raw(str(tmp_path / "r\xe9po"))
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a", b"x")
    prom = tmp_path / "m.prom"
    done = run_cli("-r", url, "--metrics-file", str(prom), "backup", str(tmp_path / "src"))
    assert done.code == 0, done.stderr
    text = prom.read_text(encoding="utf-8")
    assert "r\\\\xe9po" in text and "s3vault_exit_code" in text
    assert sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith((".m.prom", "m.prom"))
    ) == [
        ".m.prom.lock",
        "m.prom",
    ]
