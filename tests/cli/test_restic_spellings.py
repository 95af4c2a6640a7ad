"""Restic muscle memory through the real entry point (issue 14): a cron line brought over from
restic means what it meant there, or is refused with exit 2 and restic's spelling; nothing is
removed on a misreading.

- durations in --keep-within* are restic's (6m is six months, counted from the latest
  snapshot), other durations keep their documented minutes;
- --tag a,b is two tags on backup, "both" in filters and --keep-tag, repeated --tag "either";
- exclude and restore patterns follow restic's rules (a/cache at any depth);
- forget ID... removes named snapshots, damaged ones too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines() if x.strip()]


def backup_at(run_cli: RunCli, repo: str, src: Path, when: str, *flags: str) -> None:
    done = run_cli("-r", repo, "backup", "-q", "--time", when, *flags, str(src))
    assert done.code == 0, done.stderr


def listed(run_cli: RunCli, repo: str, *flags: str) -> list[dict[str, object]]:
    done = run_cli("-r", repo, "--json", "snapshots", *flags)
    assert done.code == 0, done.stderr
    snaps: list[dict[str, object]] = json.loads(done.stdout)
    return snaps


def kept_days(run_cli: RunCli, repo: str, *flags: str) -> list[str]:
    done = run_cli("-r", repo, "--json", "forget", "--dry-run", *flags)
    assert done.code == 0, done.stderr
    return sorted(
        str(d["time"])[:10]
        for d in lines(done.stdout)
        if d["message_type"] == "decision" and d["keep"]
    )


@pytest.fixture
def src(tmp_path: Path) -> Path:
    write_file(tmp_path / "src" / "file.txt", b"some data\n")
    return tmp_path / "src"


@pytest.fixture
def monthly(src: Path, cli_repo: str, run_cli: RunCli) -> str:
    """Backups on the first of January, March, May and July 2020, and nothing since."""
    for month in (1, 3, 5, 7):
        backup_at(run_cli, cli_repo, src, f"2020-{month:02d}-01T10:00:00+00:00")
    return cli_repo


# --- durations -------------------------------------------------------------------------------


def test_keep_within_6m_keeps_six_months_before_the_latest_snapshot(
    monthly: str, run_cli: RunCli
) -> None:
    """restic: 6 months back from the latest snapshot (July 1st), strictly newer. Read as six
    minutes back from now (what s3vault did), it kept nothing."""
    assert kept_days(run_cli, monthly, "--keep-within", "6m") == [
        "2020-03-01",
        "2020-05-01",
        "2020-07-01",
    ]
    everything = ["2020-01-01", "2020-03-01", "2020-05-01", "2020-07-01"]
    assert kept_days(run_cli, monthly, "--keep-within", "1y2m3d4h") == everything
    assert kept_days(run_cli, monthly, "--keep-within-monthly", "5m") == everything[1:]


REFUSED = [
    (["--keep-within", "1h30m"], "30m1h"),  # restic: 30 months and 1 hour
    (["--keep-within", "30min"], "no minutes"),  # restic rejects it
    (["--keep-within", "1w"], "a week is 7d"),
    (["--keep-within", "2d1y"], "1y2d"),
    (["--keep-within-daily", "-2d"], "negative"),
    (["--keep-last", "-1"], "-1 as 'keep all'"),
    (["-d", "-1"], "negative count"),
]


def test_spellings_restic_rejects_or_reads_otherwise_are_refused(
    monthly: str, run_cli: RunCli
) -> None:
    for flags, says in REFUSED:
        done = run_cli("-r", monthly, "forget", *flags)
        assert done.code == 2, (flags, done.stderr)
        assert says in done.stderr, (flags, done.stderr)
    assert len(listed(run_cli, monthly)) == 4  # nothing removed


def test_other_durations_keep_minutes_and_where_months_are_likely_m_is_refused(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """--retry-lock 5m is five minutes, as in restic (Go's durations); an Object Lock period
    of "6m" could be either, so it is refused and minutes are spelled 30min."""
    assert run_cli("-r", cli_repo, "prune", "--dry-run", "--retry-lock", "5m").code == 0
    assert run_cli("-r", cli_repo, "prune", "--dry-run", "--retry-lock", "30min").code == 0
    assert run_cli("-r", cli_repo, "prune", "--dry-run", "--retry-lock", "0").code == 0  # Go
    done = run_cli(
        "-r", str(tmp_path / "locked"), "init", "--object-lock", "governance",
        "--lock-period", "6m",
    )  # fmt: skip
    assert done.code == 2
    assert "min" in done.stderr and "months" in done.stderr
    # past what a duration can hold: a usage error, not "internal error: OverflowError" (exit
    # 1: an attack pass, 2026-12-06)
    for flag, value in (("--grace", "99999999999d"), ("--retry-lock", "9999999999999h")):
        done = run_cli("-r", cli_repo, "prune", "--dry-run", flag, value)
        assert done.code == 2 and "too large" in done.stderr, (flag, done.stderr)
    # a minimum grace of 0 was stored as 1 s without a word, and `prune --grace 0` refused
    done = run_cli("-r", str(tmp_path / "nograce"), "init", "--min-grace", "0")
    assert done.code == 2 and "at least 1s" in done.stderr, done.stderr
    assert not (tmp_path / "nograce").exists()


# --- tags ------------------------------------------------------------------------------------


@pytest.fixture
def tagged(src: Path, cli_repo: str, run_cli: RunCli) -> str:
    backup_at(run_cli, cli_repo, src, "2020-01-01T10:00:00+00:00", "--tag", "a,b")
    backup_at(run_cli, cli_repo, src, "2020-01-02T10:00:00+00:00", "--tag", "a")
    backup_at(run_cli, cli_repo, src, "2020-01-03T10:00:00+00:00", "--tag", "b", "--tag", "c")
    backup_at(run_cli, cli_repo, src, "2020-01-04T10:00:00+00:00")
    return cli_repo


def test_tag_lists_mean_what_they_mean_in_restic(tagged: str, run_cli: RunCli) -> None:
    assert [s["tags"] for s in listed(run_cli, tagged)] == [["a", "b"], ["a"], ["b", "c"], []]

    def days(*flags: str) -> list[str]:
        return [str(s["time"])[:10] for s in listed(run_cli, tagged, *flags)]

    assert days("--tag", "a,b") == ["2020-01-01"]  # both
    assert days("--tag", "a", "--tag", "c") == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert days("--tag", "") == ["2020-01-04"]  # untagged
    assert kept_days(run_cli, tagged, "--keep-tag", "b,c") == ["2020-01-03"]
    assert kept_days(run_cli, tagged, "--keep-last", "9", "--tag", "a,b") == ["2020-01-01"]
    found = run_cli("-r", tagged, "--json", "find", "--tag", "b,c", "file.txt")
    assert found.code == 0, found.stderr
    ids = {str(d.get("snapshot_id")) for d in lines(found.stdout) if d.get("snapshot_id")}
    assert len(ids) == 1


# --- patterns --------------------------------------------------------------------------------


def test_excludes_follow_restics_rules(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    for name in ("x/a/cache/f", "a/cache/g", "keep/cache", "app/log/kept.txt", "notes.txt"):
        write_file(src / name, b"data\n")
    listing = write_file(tmp_path / "excludes", b"# restic's format\n$LOGS/log\n")
    done = run_cli(
        "-r", cli_repo, "backup", "--exclude", "a/cache", "--exclude", "cache/",
        "--exclude-file", str(listing), str(src),
        env={**cli_env, "LOGS": str(src / "app")},
    )  # fmt: skip
    assert done.code == 0, done.stderr
    ls = run_cli("-r", cli_repo, "--json", "ls", "latest", str(src), "--recursive")
    names = {
        str(d["path"])[len(str(src)) :] for d in lines(ls.stdout) if d["message_type"] == "node"
    }
    assert names == {"", "/x", "/x/a", "/a", "/keep", "/app", "/notes.txt"}


def test_restore_patterns_follow_restics_rules(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for name in ("x/a/cache/f", "a/cache/g", "a/other", "cache", "notes.txt"):
        write_file(src / name, b"data\n")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    out = tmp_path / "out"
    done = run_cli(
        "-r", cli_repo, "restore", "latest", "--target", str(out), "--include", "a/cache"
    )
    assert done.code == 0, done.stderr
    restored = {
        str(p.relative_to(out / str(src).lstrip("/"))) for p in out.rglob("*") if p.is_file()
    }
    assert restored == {"x/a/cache/f", "a/cache/g"}
    out2 = tmp_path / "out2"
    done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(out2), "--exclude", "cache")
    assert done.code == 0, done.stderr
    restored = {
        str(p.relative_to(out2 / str(src).lstrip("/"))) for p in out2.rglob("*") if p.is_file()
    }
    assert restored == {"a/other", "notes.txt"}
    bad = run_cli("-r", cli_repo, "restore", "latest", "--target", str(out2), "--exclude", "[a")
    assert bad.code == 2 and "not a valid pattern" in bad.stderr


# --- the stored policy and profiles ----------------------------------------------------------


def test_init_and_profiles_take_restics_spellings(
    tmp_path: Path, src: Path, run_cli: RunCli
) -> None:
    """init --keep-within 6m stores six months (forget with no rule applies it); a profile's
    [retention] and tags read like the flags, and a spelling refused on the command line is
    refused there too, naming the profile."""
    repo = str(tmp_path / "repo")
    done = run_cli(
        "-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key",
        "--keep-within", "6m",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    for month in (1, 3, 5, 7):
        backup_at(run_cli, repo, src, f"2020-{month:02d}-01T10:00:00+00:00")
    assert kept_days(run_cli, repo) == ["2020-03-01", "2020-05-01", "2020-07-01"]

    config = write_file(
        tmp_path / "config.toml",
        f"""
[profiles.web]
repository = "{repo}"
tags = ["web,nightly"]

[profiles.web.retention]
keep_within = "2m"
keep_tags = ["nightly,web"]

[profiles.typo]
inherit = "web"

[profiles.typo.retention]
keep_within = "1h30m"
""".encode(),
    )
    backup = run_cli(
        "--config", str(config), "-P", "web", "backup", "-q", "--time", "2020-07-15T10:00:00",
        str(src),
    )  # fmt: skip
    assert backup.code == 0, backup.stderr
    assert listed(run_cli, repo)[-1]["tags"] == ["web", "nightly"]
    # two months back from July 15th (the latest), and the snapshot tagged nightly and web
    kept = kept_days(run_cli, repo, "--config", str(config), "-P", "web")
    assert kept == ["2020-07-01", "2020-07-15"]
    typo = run_cli("--config", str(config), "-P", "typo", "forget", "--dry-run")
    assert typo.code == 2
    assert "profile typo [retention] keep_within" in typo.stderr and "30m1h" in typo.stderr


def test_restics_environment_alone_is_refused_naming_what_is_not_read(
    run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A cron line with only RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE: "no repository given"
    did not say that restic's variables are not read."""
    env = {**cli_env, "RESTIC_REPOSITORY": "/srv/restic", "RESTIC_PASSWORD_FILE": "/etc/pw"}
    done = run_cli("snapshots", env=env)
    assert done.code == 2
    assert "RESTIC_PASSWORD_FILE, RESTIC_REPOSITORY set" in done.stderr, done.stderr
    assert "docs/migration.md" in done.stderr


def test_restics_password_variable_with_a_repository_given_is_named(
    cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """With the repository given the S3VAULT_ way but the password still in
    RESTIC_PASSWORD_FILE: "no password given" (exit 12) did not say that one is set."""
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    env["RESTIC_PASSWORD_FILE"] = "/etc/restic-pw"
    for args in (["-r", cli_repo, "snapshots"], ["-r", cli_repo + "-new", "init"]):
        done = run_cli(*args, env=env)
        assert done.code == 12, done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("Fatal: no password"), line
        assert line.endswith(
            "(RESTIC_PASSWORD_FILE set: s3vault reads none of restic's variables; "
            "docs/migration.md names each one's S3VAULT_ spelling)"
        ), args


def test_snapshots_takes_ids_and_latest_as_restic_does(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`restic snapshots latest`, `restic snapshots ID ID`: "unexpected extra argument" (2)."""
    src = tmp_path / "src"
    write_file(src / "a", b"1")
    for when in ("2026-01-01 10:00", "2026-01-02 10:00", "2026-01-03 10:00"):
        backup_at(run_cli, cli_repo, src, when)
    every = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    first, _, last = (s["short_id"] for s in every)
    newest = json.loads(run_cli("-r", cli_repo, "--json", "snapshots", "latest").stdout)
    assert [s["short_id"] for s in newest] == [last]
    named = run_cli("-r", cli_repo, "--json", "snapshots", last, first[:5], "latest~2")
    assert [s["short_id"] for s in json.loads(named.stdout)] == [first, last]
    missing = run_cli("-r", cli_repo, "snapshots", "0000beef")
    assert missing.code == 2 and "0000beef" in missing.stderr


def test_restic_016s_snapshot_colon_path_restores_and_diffs_that_directory(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic 0.16's `restore SNAPSHOT:PATH`: the contents of directory PATH into the target,
    --include and --exclude matched below it, the snapshot chosen with --host as for latest
    (it was refused, exit 2, and with -H said "no snapshot latest:/x matches --host h (only 1
    do)"); `diff A:PATH B:PATH` compares that directory of each. A PATH that is no directory in
    the snapshot: one line, exit 2, nothing restored."""
    src = tmp_path / "Src"
    write_file(src / "Site" / "index.html", b"<p>1</p>")
    write_file(src / "Site" / "img" / "logo.png", b"png")
    write_file(src / "other", b"not in Site")
    assert run_cli("-r", cli_repo, "backup", "--host", "web1", str(src)).code == 0
    site = f"{src}/Site"
    for args, want in (
        ([f"latest:{site}"], {"index.html", "img", "img/logo.png"}),
        ([f"latest:{site}", "--include", "/img"], {"img", "img/logo.png"}),
        ([f"latest:{site}/", "--exclude", "*.png", "-H", "web1"], {"index.html", "img"}),
    ):
        target = tmp_path / f"t{len(list(tmp_path.glob('t*')))}"
        done = run_cli("-r", cli_repo, "restore", *args, "-t", str(target))
        assert done.code == 0, (args, done.stderr)
        got = {str(p.relative_to(target)) for p in target.rglob("*")}
        assert got == want, args
    assert (tmp_path / "t0" / "index.html").read_bytes() == b"<p>1</p>"
    for bad, what in (
        (f"latest:{src}/other", "not a directory in"),
        ("latest:/Srv/Nope", "not in"),
    ):
        done = run_cli("-r", cli_repo, "restore", bad, "-t", str(tmp_path / "no"))
        assert done.code == 2, done.stderr
        assert done.stderr.splitlines() == [
            f"Fatal: {bad.partition(':')[2]!r} is {what} snapshot {done.stderr.split()[-1]}"
        ]
        assert not (tmp_path / "no").exists()
    # a filter that names the whole path matches nothing below PATH: said where, exit 3
    whole = run_cli(
        "-r",
        cli_repo,
        "restore",
        f"latest:{site}",
        "--include",
        f"{site}/img",
        "-t",
        str(tmp_path / "w"),
    )
    assert whole.code == 3, whole.stderr
    assert f"warning: {site}: nothing in snapshot " in whole.stderr, whole.stderr
    dotted = run_cli(
        "-r", cli_repo, "restore", f"latest:{src}/./x/../Site", "-t", str(tmp_path / "d")
    )
    assert dotted.code == 0, dotted.stderr  # . and .. as restic's path.Clean takes them
    assert (tmp_path / "d" / "index.html").exists()
    for empty in ("", f":{site}"):  # an empty prefix matched every snapshot (the only one)
        done = run_cli("-r", cli_repo, "restore", empty, "-t", str(tmp_path / "no"))
        assert done.code == 2 and "no snapshot given" in done.stderr, done.stderr
    write_file(src / "Site" / "new.html", b"<p>2</p>")
    write_file(src / "elsewhere", b"outside Site")
    assert run_cli("-r", cli_repo, "backup", "--host", "web1", str(src)).code == 0
    done = run_cli("-r", cli_repo, "diff", f"latest~1:{site}", f"latest:{site}")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("comparing snapshot ") and f":{site} to " in done.stdout
    assert [line for line in done.stdout.splitlines() if line[:1] in tuple("+-MTU")] == [
        "+     /new.html"
    ]
    for pack in (Path(cli_repo) / "tree").rglob("*"):  # the trees on the way are gone
        if pack.is_file():
            pack.unlink()
    gone = run_cli(
        "-r", cli_repo, "--no-cache", "restore", f"latest:{site}", "-t", str(tmp_path / "g")
    )
    assert gone.code == 13, gone.stderr  # damage, named where: it was exit 1, "tree/.. not found"
    [line] = gone.stderr.splitlines()
    assert line.startswith("Fatal: / in snapshot ") and "cannot be read" in line, line
    assert "s3vault verify" in line


def test_snapshots_named_by_id_say_what_is_wrong_with_a_damaged_or_odd_one(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`snapshots ID` of a damaged snapshot file: exit 13 naming it and its fix (not "no
    snapshot"); an id with a byte that is no UTF-8: exit 2, the byte shown as \\xNN."""
    write_file(tmp_path / "src" / "a", b"1")
    for when in ("2026-01-01 10:00", "2026-01-02 10:00"):
        backup_at(run_cli, cli_repo, tmp_path / "src", when)
    first = sorted((Path(cli_repo) / "snapshots").iterdir())[0]
    data = bytearray(first.read_bytes())
    data[40] ^= 0xFF
    first.write_bytes(bytes(data))
    sid = first.name[:8]
    damaged = run_cli("-r", cli_repo, "--no-cache", "snapshots", sid)  # the store's copy
    assert damaged.code == 13, damaged.stderr
    assert f"snapshot {sid} cannot be read" in damaged.stderr
    assert f"`s3vault forget {sid}`" in damaged.stderr
    odd = run_cli("-r", cli_repo, "snapshots", os.fsdecode(b"ab\xff"))
    assert odd.code == 2 and "no snapshot with id 'ab\\xff'" in odd.stderr, odd.stderr


def test_quiet_silences_progress_not_what_a_command_shows(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic's -q drops progress and chatter, not the listing asked for: `s3vault -q ls latest
    > manifest` wrote an empty manifest, exit 0 (ls, snapshots, find, stats, key list, diff)."""
    src = write_file(tmp_path / "src" / "a.txt", b"1").parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    write_file(src / "b.txt", b"2")
    assert run_cli("-r", cli_repo, "-q", "backup", str(src)).stdout == ""  # no summary
    for args, want in (
        (["ls", "latest"], f"{src}/b.txt"),
        (["snapshots"], "2 snapshots"),
        (["find", "a.txt"], f"{src}/a.txt"),
        (["stats"], "snapshots:"),
        (["stats", "--history"], "dedup ratio:"),
        (["audit"], " backup "),
        (["key", "list"], "repository "),
        (["diff", "latest~1", "latest"], "1 added"),
    ):
        for quiet in (["-q"], ["--quiet"]):
            done = run_cli("-r", cli_repo, *quiet, *args)
            assert done.code == 0, (args, done.stderr)
            assert want in done.stdout, (args, done.stdout)


def test_json_of_snapshots_and_keys_has_restics_fields(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`original` is restic's: left out when there is none (it was "", which `jq '.original //
    .id'` takes for a value), the replaced snapshot's id after a tag (it was "<repository
    id>:<id>"); `key list --json` has restic's userName and hostName."""
    src = write_file(tmp_path / "src" / "a", b"1").parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    [plain] = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert "original" not in plain and "original_repository" not in plain
    assert run_cli("-r", cli_repo, "tag", "--add", "x", "latest").code == 0
    [tagged] = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert tagged["original"] == plain["id"] and tagged["id"] != plain["id"]
    assert len(tagged["original_repository"]) == 64
    [key] = json.loads(run_cli("-r", cli_repo, "--json", "key", "list").stdout)
    assert (key["userName"], key["hostName"]) == (key["username"], key["hostname"])
    assert key["current"] is True


def test_find_takes_restics_oldest_and_newest(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`restic find --newest/--oldest` (-N, -O): "No such option", exit 2, while the table of
    restic's commands said find is the same. They keep the entries modified in the period."""
    old = write_file(tmp_path / "src" / "old.conf", b"1")
    new = write_file(tmp_path / "src" / "new.conf", b"2")
    os.utime(old, (1_577_872_800, 1_577_872_800))  # 2020-01-01 10:00 UTC
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0

    def found(*args: str) -> list[str]:
        done = run_cli("-r", cli_repo, "--json", "find", "*.conf", *args)
        assert done.code == 0, done.stderr
        lines = [json.loads(x) for x in done.stdout.splitlines()]
        return [m["path"] for x in lines if x["message_type"] == "matches" for m in x["matches"]]

    assert found() == [str(new), str(old)]
    assert found("--newest", "2021-01-01") == [str(old)]
    assert found("-O", "2021-01-01 00:00") == [str(new)]
    assert found("-O", "2019-12-31", "-N", "2020-01-02T00:00:00Z") == [str(old)]
    assert run_cli("-r", cli_repo, "find", "*", "--newest", "soon").code == 2
    early = write_file(tmp_path / "src2" / "early.conf", b"3")
    os.utime(early, ns=(-500_000_000, -500_000_000))  # 1969-12-31 23:59:59.5 UTC
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src2")).code == 0
    # exact before 1970 too (timestamp() rounded toward zero: 0.1 s off the end here)
    assert found("-s", "latest", "-O", "1969-12-31T23:59:59.4Z") == [str(early)]
    assert found("-s", "latest", "-N", "1969-12-31T23:59:59.4Z") == []


def test_restics_options_that_have_another_name_here_say_it(run_cli: RunCli) -> None:
    """restic's `stats --mode`, `backup -f`, `backup --read-concurrency`, `init --from-repo`,
    and `copy --from-repo` gave a bare "No such option" (or "Did you mean '--repo'?" for
    --from-repo): each says what to use here, exit 2, one line. (`find --long` is restic's
    own since 2026-12-07: tests/cli/test_find_ids.py.)"""
    for args, named, hint in (
        (["stats", "--mode", "raw-data"], "--mode", "--history"),
        (["backup", "-f", "/srv"], "-f", "--force here"),
        (["backup", "--read-concurrency", "4", "/srv"], "--read-concurrency", "-j/--jobs"),
        (["init", "--from-repo", "/r"], "--from-repo", "s3vault copy --to URL"),
        (["copy", "--from-repo", "/r"], "--from-repo", "with --to TARGET"),
        # a restic user's attack pass (2026-12-07): bare refusals, or a wrong "Did you mean"
        (["copy", "--repo2", "/r"], "--repo2", "--to here"),
        (["init", "--copy-chunker-params", "--from-repo", "/r"], "--copy-chunker-params", "copy"),
        (["restore", "latest", "-t", "/t", "--delete"], "--delete", "empty directory"),
        (["--cleanup-cache", "snapshots"], "--cleanup-cache", "`s3vault cache --cleanup`"),
        (["--compression", "max", "snapshots"], "--compression", "`s3vault init --compression`"),
        (["--pack-size", "64", "snapshots"], "--pack-size", "`s3vault init --pack-size`"),
        (["-o", "s3.storage-class=X", "snapshots"], "-o", "--s3-storage-class"),
        (["--option", "s3.connections=9", "snapshots"], "--option", "--s3-connections"),
    ):
        done = run_cli("-r", "/nonexistent", *args)
        assert done.code == 2, (args, done.stderr)
        last = done.stderr.splitlines()[-1]
        assert last.startswith(f"Error: No such option: {named}: restic's `{named}` is "), last
        assert hint in last and "Did you mean" not in last, last


def test_a_name_that_is_no_utf8_is_found_as_a_listing_shows_it(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`ls` shows the byte e9 of a Latin-1 name as \\xe9; that path pasted into ls, dump or
    SNAPSHOT:PATH was "not in snapshot" (exit 2). It is found now; a name that is spelled
    with a backslash itself is shown, and found, with the backslash doubled."""
    src = tmp_path / "odd"
    latin = os.fsencode(src) + b"/d\xe9"
    os.makedirs(latin)
    with open(latin + b"/caf\xe9", "wb") as f:
        f.write(b"latin-1 name\n")
    write_file(src / "lit\\xe9", b"spelled with a backslash\n")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    shown = run_cli("-r", cli_repo, "ls", "latest", str(src), "--recursive").stdout.splitlines()
    assert f"{src}/d\\xe9/caf\\xe9" in shown and f"{src}/lit\\\\xe9" in shown
    dumped = run_cli("-r", cli_repo, "dump", "latest", f"{src}/d\\xe9/caf\\xe9")
    assert (dumped.code, dumped.stdout) == (0, "latin-1 name\n"), dumped.stderr
    literal = run_cli("-r", cli_repo, "dump", "latest", f"{src}/lit\\\\xe9")
    assert (literal.code, literal.stdout) == (0, "spelled with a backslash\n"), literal.stderr
    below = run_cli("-r", cli_repo, "ls", "latest", f"{src}/d\\xe9")
    assert below.stdout.splitlines()[-1] == f"{src}/d\\xe9/caf\\xe9", below.stderr
    target = tmp_path / "t"
    done = run_cli("-r", cli_repo, "restore", f"latest:{src}/d\\xe9", "-t", str(target))
    assert done.code == 0, done.stderr
    assert os.listdir(os.fsencode(target)) == [b"caf\xe9"]


def test_a_snapshot_records_its_paths_sorted_as_restics(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic's NewSnapshot sorts the paths: `backup b a` records [a, b]; s3vault kept the
    command line's order, and a script comparing `snapshots --json` saw them differ (an
    attack pass, 2026-12-07). The other order finds the same parent."""
    for name in ("a", "b"):
        write_file(tmp_path / name / "f", name.encode())
    first = run_cli("-r", cli_repo, "backup", str(tmp_path / "b"), str(tmp_path / "a"))
    assert first.code == 0, first.stderr
    again = run_cli("-r", cli_repo, "--json", "backup", str(tmp_path / "a"), str(tmp_path / "b"))
    assert json.loads(again.stdout.splitlines()[-1])["files_unmodified"] == 2
    listed = json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)
    assert [s["paths"] for s in listed] == [[str(tmp_path / "a"), str(tmp_path / "b")]] * 2


def test_restics_commands_that_have_another_name_here_say_it(run_cli: RunCli) -> None:
    """restic's `recover` got "Did you mean 'report'?", `rebuild-index` (0.14), `generate`
    and `migrate` a bare "No such command", and `stats latest` "unexpected extra argument"
    (a restic user's attack pass, 2026-12-07): each says what to use here, exit 2."""
    for args, said in (
        (["recover"], "restic's `recover` is `s3vault repair snapshots` here"),
        (["rebuild-index"], "restic's `rebuild-index` is `s3vault repair index` here"),
        (["generate", "--bash-completion", "x"], "_S3VAULT_COMPLETE=bash_source s3vault"),
        (["migrate"], "one format version so far"),
        (["stats", "latest"], "restic's `stats SNAPSHOT` is not here"),
    ):
        done = run_cli("-r", "/nonexistent", *args)
        assert done.code == 2, (args, done.stderr)
        last = done.stderr.splitlines()[-1]
        assert said in last and "Did you mean" not in last, last


def test_prune_takes_restics_short_dry_run(cli_repo: str, run_cli: RunCli) -> None:
    """`restic prune -n` was "No such option '-n'" (forget, backup, restore and rewrite
    took it)."""
    done = run_cli("-r", cli_repo, "prune", "-n")
    assert done.code == 0, done.stderr
    assert "dry run" in (done.stdout + done.stderr).lower(), done.stdout


@pytest.mark.parametrize("flag", ["-c", "--compact"])
def test_forget_takes_restics_compact_listing(
    flag: str, cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """`restic forget --keep-last 1 -c` (exit 0 in restic) was "No such option '-c'" here,
    with --compact "Did you mean --cacert?" (an attack pass, 2026-12-08)."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    for _ in range(2):
        assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "1", flag)
    assert done.code == 0, done.stderr
    assert "remove" in done.stdout and "keep" in done.stdout, done.stdout
    listed = run_cli("-r", cli_repo, "--json", "snapshots")
    assert len(json.loads(listed.stdout)) == 1


def test_restic_host_in_the_environment_is_said_not_to_be_read(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A cron line brought over from restic with RESTIC_HOST recorded this host's name without
    a word, and `forget --host` with restic's name then passed those snapshots by (a restic
    user's attack pass, 2026-12-07): a warning names it, and --host silences it."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    env = {**cli_env, "RESTIC_HOST": "web1-from-restic"}
    done = run_cli("-r", cli_repo, "backup", str(src), env=env)
    assert done.code == 0, done.stderr
    assert "RESTIC_HOST=web1-from-restic is not read" in done.stderr, done.stderr
    assert "give --host web1-from-restic" in done.stderr
    given = run_cli("-r", cli_repo, "backup", str(src), "--host", "web1-from-restic", env=env)
    assert given.code == 0 and "RESTIC_HOST" not in given.stderr, given.stderr
