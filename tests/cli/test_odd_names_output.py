"""Names chosen by whoever owns the backed-up files (or by a put-only host) reach the operator's
terminal and scripts only escaped: a file named with an escape sequence or a line break shows
as one line with ``\\x1b`` and ``\\n`` in text output (ls, ls -l, find, diff), and as the
exact name in JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, cli_runner

EVIL = b"bad\xff\x1b[2J\x1b[31mPWNED\r\nnext\x07"
SHOWN = "bad\\xff\\x1b[2J\\x1b[31mPWNED\\r\\nnext\\x07"


def test_control_characters_in_names_are_escaped_in_text_and_exact_in_json(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain").write_bytes(b"a")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    with open(os.path.join(os.fsencode(src), EVIL), "wb") as f:
        f.write(b"x")
    os.symlink(EVIL, os.path.join(os.fsencode(src), b"link"))
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    outputs = [
        run_cli("-r", cli_repo, "ls", "latest"),
        run_cli("-r", cli_repo, "ls", "-l", "latest"),
        run_cli("-r", cli_repo, "find", "bad*"),
        run_cli("-r", cli_repo, "diff", "latest~1", "latest"),
    ]
    for done in outputs:
        assert done.code == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\r" not in done.stdout
        hits = [line for line in done.stdout.splitlines() if "PWNED" in line]
        assert hits and all(SHOWN in line for line in hits), done.stdout
        assert not any(line.startswith("next") for line in done.stdout.splitlines())
    listing = run_cli("-r", cli_repo, "ls", "latest", "--json")
    names = [json.loads(line).get("name") for line in listing.stdout.splitlines()]
    # JSON: the name, escaped by JSON; the byte that is no UTF-8 as restic's JSON has it
    assert EVIL.decode("utf-8", "replace") in names


def test_names_that_look_like_markup_are_shown_as_text(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A path `/srv/[backup]` and a tag `[/x]` are text in the snapshots table (they were read
    as rich markup: the tag stopped `snapshots` with an internal MarkupError)."""
    src = tmp_path / "[backup]"
    src.mkdir()
    (src / "f").write_bytes(b"a")
    done = run_cli("-r", cli_repo, "backup", str(src), "--tag", "[/x]", "--tag", "[bold]b", "-q")
    assert done.code == 0, done.stderr
    listing = run_cli("-r", cli_repo, "snapshots")
    assert listing.code == 0, listing.stderr
    assert "[/x]" in listing.stdout and "[bold]b" in listing.stdout
    assert "[backup]" in listing.stdout


def test_names_that_look_like_emoji_codes_are_shown_as_they_are(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A file named `:smile: notes` was listed by ls and find (and named in warnings) as
    `😄 notes`: rich replaced emoji codes in every line for people. Names are shown as they
    are, on stdout and stderr."""
    src = tmp_path / "src"
    src.mkdir()
    (src / ":smile: notes").write_bytes(b"a")
    (src / ":thumbs_up:").mkdir(mode=0)  # unreadable: named in a warning
    done = run_cli("-r", cli_repo, "backup", str(src), "--host", ":rocket:")
    assert ":thumbs_up:" in done.stderr or os.geteuid() == 0, done.stderr
    for args in (("ls", "latest"), ("find", ":smile:*"), ("snapshots",)):
        shown = run_cli("-r", cli_repo, *args)
        assert shown.code == 0, shown.stderr
        assert "\U0001f604" not in shown.stdout and "\U0001f680" not in shown.stdout
    assert f"{src}/:smile: notes" in run_cli("-r", cli_repo, "ls", "latest").stdout
    assert ":rocket:" in run_cli("-r", cli_repo, "snapshots").stdout


@pytest.mark.parametrize(
    ("locale", "shown"),
    [
        ({"PYTHONIOENCODING": "ascii"}, "caf\\xe9"),
        # the name's own bytes, as this locale reads names (and find takes them)
        ({"LC_ALL": "C", "PYTHONUTF8": "0"}, "caf\\xc3\\xa9"),
    ],
    ids=["PYTHONIOENCODING=ascii", "C locale without UTF-8 mode"],
)
def test_a_name_the_output_encoding_cannot_spell_is_escaped(
    tmp_path: Path,
    cli_repo: str,
    cli_env: dict[str, str],
    run_cli: RunCli,
    locale: dict[str, str],
    shown: str,
) -> None:
    """Under an ASCII output encoding (PYTHONIOENCODING=ascii, or the C locale without UTF-8
    mode, whose errors are surrogateescape: a fresh process of the console script, since the
    encoding is chosen when the interpreter starts) `ls` of a file named café ended in an
    internal UnicodeEncodeError; it is listed escaped, as odd bytes are."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "café").write_bytes(b"a")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    done = cli_runner(cli_env, None)("-r", cli_repo, "ls", "latest", env={**cli_env, **locale})
    assert done.code == 0, done.stderr
    assert f"{src}/{shown}" in done.stdout.splitlines()
    listed = cli_runner(cli_env, None)(
        "-r", cli_repo, "--json", "ls", "latest", env={**cli_env, **locale}
    )
    assert listed.code == 0, listed.stderr  # JSON escapes it as JSON does: valid JSON
    names = [json.loads(line).get("name") for line in listed.stdout.splitlines()]
    assert "café" in names


def test_a_name_as_ls_shows_it_reaches_that_file_in_every_command(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Each name is printed escaped (above); pasted back as printed, it reaches that one
    file in ls, dump, find and restore --include. Before, only \\xNN of bytes 80 to ff read
    back: a line break, a tab or an escape sequence was "not in snapshot" (exit 2) or matched
    nothing (find: 0 matches, exit 0), and U+0085 and the byte 85 were both shown \\x85."""
    names = [b"new\nline", b"tab\there", b"esc\x1b[2Jx", b"del\x7f", b"nel\xc2\x85", b"raw\x85"]
    # and their twins spelled with a backslash of their own (they printed alike, and a pasted
    # name reached one file in dump and the other in restore --include)
    names += [b"new\\nline", b"raw\\x85", b"nel\\u0085", b"bs\\", b"bs\\\\"]
    src = tmp_path / "src"
    src.mkdir()
    for name in names:
        with open(os.path.join(os.fsencode(src), name), "wb") as f:
            f.write(b"content of " + name)
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    shown = run_cli("-r", cli_repo, "ls", "latest", str(src)).stdout.splitlines()[1:]
    assert len(set(shown)) == len(names)  # each one its own line, each line its own
    reached = set()
    for n, line in enumerate(shown):
        dumped = run_cli("-r", cli_repo, "dump", "latest", line)
        assert dumped.code == 0, (line, dumped.stderr)
        name = dumped.stdout_bytes.removeprefix(b"content of ")
        reached.add(name)
        listed = run_cli("-r", cli_repo, "ls", "latest", line)
        assert listed.stdout.splitlines() == [line], (line, listed.stderr)
        pattern = line.replace("[", "\\[")  # as a pattern: [ escaped
        found = run_cli("-r", cli_repo, "find", pattern.rsplit("/", 1)[1])
        assert found.code == 0 and f"  {line}  (file" in found.stdout, (line, found.stdout)
        target = tmp_path / "t" / str(n)
        done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--include", pattern)
        assert done.code == 0, (line, done.stderr)
        assert os.listdir(os.fsencode(target) + os.fsencode(str(src))) == [name], line
    assert reached == set(names)  # each line reached its own file


def test_two_paths_that_escape_alike_are_two_backups(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """``x`` with the byte fe and ``x\\xfe`` spelled so: each records its own snapshot path
    (a backslash of the name doubled), so neither takes the other's snapshot as its parent
    and forget keeps each one's last (they were one group: --keep-last 1 would remove the
    only snapshot of one of them)."""
    raw = os.path.join(os.fsencode(tmp_path), b"x\xfe")
    literal = tmp_path / "x\\xfe"
    Path(os.fsdecode(raw)).write_bytes(b"RAW")
    literal.write_bytes(b"LIT")
    ids = []
    for path in (os.fsdecode(raw), str(literal)):
        done = run_cli("-r", cli_repo, "--json", "backup", "--host", "h", path)
        assert done.code == 0, done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["parent_id"] is None
        ids.append(summary["snapshot_id"])
    snaps = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert {s["id"]: s["paths"] for s in snaps} == {
        ids[0]: [f"{tmp_path}/x\\xfe"],
        ids[1]: [f"{tmp_path}/x\\\\xfe"],
    }
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "1", "--host", "h")
    assert done.code == 0, done.stderr
    assert len(json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)) == 2
    # --path: the path as it is first (its twin's snapshots are not chosen too: an attack
    # pass), else as snapshots shows it, a line break's \n included
    newline = tmp_path / "nl\nx"
    newline.write_bytes(b"NL")
    done = run_cli("-r", cli_repo, "--json", "backup", "--host", "h", str(newline))
    ids.append(json.loads(done.stdout.splitlines()[-1])["snapshot_id"])
    for path, chosen_id in (
        (os.fsdecode(raw), ids[0]),
        (str(literal), ids[1]),
        (f"{tmp_path}/x\\\\xfe", ids[1]),  # as snapshots shows the literal name
        (f"{tmp_path}/nl\\nx", ids[2]),  # as snapshots shows the line break
        (str(newline), ids[2]),
    ):
        chosen = run_cli("-r", cli_repo, "--json", "snapshots", "--path", path)
        assert [s["id"] for s in json.loads(chosen.stdout)] == [chosen_id], path
        listed = run_cli("-r", cli_repo, "--json", "ls", "latest", "--path", path)
        assert listed.code == 0, (path, listed.stderr)
        assert json.loads(listed.stdout.splitlines()[0])["id"] == chosen_id, path


def test_a_name_with_a_backslash_of_its_own_is_found_as_typed_where_none_shows_so(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """``C:\\temp`` typed as it is (its listing doubles the backslash) reaches that file in
    dump and ls where no name shows so (it was "not in snapshot", exit 2); where a name does
    show so (the byte ff beside ``x\\xff`` spelled so), the listing's spelling wins and the
    listing's own line for the other reaches it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "C:\\temp").write_bytes(b"windows")
    (src / "x\\xff").write_bytes(b"LIT")
    with open(os.path.join(os.fsencode(src), b"x\xff"), "wb") as f:
        f.write(b"RAW")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    for name, content in (
        ("C:\\temp", b"windows"),  # as typed: nothing shows so
        ("C:\\\\temp", b"windows"),  # as ls shows it
        ("x\\xff", b"RAW"),  # as ls shows the byte ff
        ("x\\\\xff", b"LIT"),  # as ls shows the name spelled with a backslash
    ):
        done = run_cli("-r", cli_repo, "dump", "latest", f"{src}/{name}")
        assert (done.code, done.stdout_bytes) == (0, content), (name, done.stderr)
    listed = run_cli("-r", cli_repo, "ls", "latest", f"{src}/C:\\temp")
    assert listed.code == 0 and listed.stdout.splitlines() == [f"{src}/C:\\\\temp"], listed


def test_path_as_shown_selects_a_hosts_snapshot_when_another_host_has_its_twin(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """--path decides between "as typed" and "as shown" among the snapshots --host and --tag
    select: another host's directory named x\\xfe made the text B's listing shows select
    none of B's (an attack pass, 2026-12-07); and restore's word for where in the target
    something was refused spells a name as listings do, so twins do not show alike."""
    raw = os.path.join(os.fsencode(tmp_path), b"x\xfe")
    os.mkdir(raw)
    Path(os.fsdecode(raw), "f").write_bytes(b"byte")
    (tmp_path / "x\\xfe").mkdir()
    (tmp_path / "x\\xfe" / "f").write_bytes(b"lit")
    for path, host in ((os.fsdecode(raw), "B"), (str(tmp_path / "x\\xfe"), "A")):
        assert run_cli("-r", cli_repo, "backup", "-q", "--host", host, path).code == 0
    shown = f"{tmp_path}/x\\xfe"  # as snapshots shows B's path
    for filters, host in ((("--host", "B"), "B"), (("--host", "A"), "A"), ((), "A")):
        done = run_cli("-r", cli_repo, "--json", "snapshots", *filters, "--path", shown)
        assert [s["hostname"] for s in json.loads(done.stdout)] == [host], filters
    # both twins refused by the target: each place spelled as its name is
    target = tmp_path / "t"
    below = target / str(tmp_path).lstrip("/")
    below.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", os.path.join(os.fsencode(below), b"x\xfe"))
    (below / "x\\xfe").symlink_to(tmp_path / "elsewhere")
    assert run_cli("-r", cli_repo, "backup", "-q", "--host", "C", str(tmp_path)).code == 0
    done = run_cli("-r", cli_repo, "restore", "latest", "--host", "C", "-t", str(target))
    assert done.code == 3, done.stderr
    places = {
        line.rsplit("(in the target: ", 1)[1]
        for line in done.stderr.splitlines()
        if "(in the target: " in line
    }
    assert {f"{below}/x\\xfe)", f"{below}/x\\\\xfe)"} <= places, done.stderr


def test_a_stray_objects_name_reaches_no_terminal_raw(cli_repo: str, run_cli: RunCli) -> None:
    """An object stored under a name with an escape sequence and a line break (whoever may
    write objects chose it): `snapshots` said "ignoring foreign object" with the name raw, and
    verify printed it raw in its finding and in the `key remove` it names (an attack pass,
    2026-12-08). Shown escaped, the way ls shows names; that spelling reaches the object."""
    evil = "k\x1b]0;pwned\x07\x1b[2J\nnext"
    shown = "k\\x1b]0;pwned\\x07\\x1b[2J\\nnext"
    for kind in ("snapshots", "keys"):
        Path(cli_repo, kind).mkdir(exist_ok=True)
        Path(cli_repo, kind, evil).write_bytes(b"x")
    listed = run_cli("-r", cli_repo, "snapshots")
    checked = run_cli("-r", cli_repo, "verify")
    assert checked.code == 13, checked.stderr
    keys = run_cli("-r", cli_repo, "key", "list")
    assert keys.code == 0 and "k\\x1b]0;pw" in keys.stdout, keys.stdout
    for text in (listed.stderr, checked.stdout + checked.stderr, keys.stdout):
        assert "\x1b" not in text and "\x07" not in text and "\nnext" not in text, text
    assert f"ignoring foreign object snapshots/{shown}" in listed.stderr
    Path(cli_repo, "index").mkdir(exist_ok=True)
    Path(cli_repo, "index", "junk").write_bytes(b"x")
    once = run_cli("-r", cli_repo, "verify")  # (it lists index/ twice: said twice)
    assert once.stderr.count("ignoring foreign object index/junk") == 1, once.stderr
    named = checked.stderr.split("`s3vault key remove ", 1)[1].split("`", 1)[0]
    assert shown.startswith(named) and len(named) >= 8, checked.stderr  # a unique prefix
    removed = run_cli("-r", cli_repo, "key", "remove", named)
    assert removed.code == 0, removed.stderr
    assert "\x1b" not in removed.stdout and not Path(cli_repo, "keys", evil).exists()
