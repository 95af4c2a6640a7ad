"""restore-test fails (exit 13) whenever a file it selected was not restored and proven, for
any reason: a name restore refuses, a file the target refuses, a node it cannot honour."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from tests.cli.test_damage_tolerance import flip_bit
from tests.conftest import RepoHandle, RunCli, write_file
from tests.restorer.forge import Forge


def drill(
    run_cli: RunCli, handle: RepoHandle, *args: str
) -> tuple[int, set[str], dict[str, object]]:
    """(exit code, the paths of mismatch lines, the summary) of a restore-test --json."""
    done = run_cli(
        "--json", "-r", handle.url, "--cache-dir", str(handle.cache), "restore-test", *args
    )
    assert "internal error" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    failed = {line["item"] for line in lines if line["message_type"] == "mismatch"}
    return done.code, failed, lines[-1]


def test_a_stdin_file_named_with_a_slash_fails_the_drill(
    local_repo: RepoHandle, run_cli: RunCli, tmp_path: Path
) -> None:
    """What `backup --stdin --stdin-filename dumps/mydb.sql` stored: restore refuses the name,
    so a drill that passed it would prove a backup that cannot be restored."""
    forge = Forge(local_repo.open())
    forge.finish(
        forge.tree(
            [forge.file(b"dumps/mydb.sql", b"-- dump\n"), forge.file(b"other.txt", b"fine\n")]
        )
    )
    for args in ((), ("--no-disk",), ("--sample", "1", "--seed", "3"), ("--sample", "2")):
        code, failed, summary = drill(run_cli, local_repo, "--no-record", *args)
        assert code == 13, (args, summary)
        assert "/dumps/mydb.sql" in failed
        assert summary["passed"] is False
    restore = run_cli(
        "-r", local_repo.url, "--cache-dir", str(local_repo.cache),
        "restore", "latest", "-t", str(tmp_path / "t"),
    )  # fmt: skip
    assert restore.code == 3
    assert "/dumps/mydb.sql: refusing a name that contains '/'" in restore.stderr
    assert (tmp_path / "t" / "other.txt").read_bytes() == b"fine\n"


def test_a_file_the_target_refuses_fails_the_drill(
    local_repo: RepoHandle, run_cli: RunCli, tmp_path: Path
) -> None:
    forge = Forge(local_repo.open())
    forge.finish(
        forge.tree(
            [
                forge.dir(b"etc", forge.tree([forge.file(b"hosts", b"127.0.0.1\n")])),
                forge.file(b"kept.txt", b"kept\n"),
            ]
        )
    )
    target = tmp_path / "drill"
    (target / "etc" / "hosts" / "in-the-way").mkdir(parents=True)  # a directory, not a file
    code, failed, summary = drill(run_cli, local_repo, "--no-record", "-t", str(target))
    assert code == 13
    assert failed == {"/etc/hosts"}  # its path in the snapshot, as verify names it
    assert summary["passed"] is False
    assert (target / "kept.txt").read_bytes() == b"kept\n"
    assert (target / "etc" / "hosts" / "in-the-way").is_dir()  # never removed

    done = run_cli(
        "--json", "-r", local_repo.url, "--cache-dir", str(local_repo.cache),
        "restore", "latest", "-t", str(target),
    )  # fmt: skip
    assert done.code == 3  # not damage: the target refused one file
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line for line in lines if line["message_type"] == "warning"] == [
        {
            "message_type": "warning",
            "item": "/etc/hosts",
            "message": "cannot create file: a directory is in the way "
            f"(in the target: {target}/etc/hosts)",  # where: restic names both too
        }
    ]


def test_a_drill_into_a_target_that_holds_the_files_still_reads_the_repository(
    local_repo: RepoHandle, run_cli: RunCli, tmp_path: Path
) -> None:
    """Found by a helper's attack (2026-12-06): `restore-test --target DIR` left the files DIR
    already held as the snapshot has them, read no data, passed on a repository whose pack
    was damaged, and entered that pack in the verification ledger as proven."""
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(300_000))
    done = run_cli("-r", local_repo.url, "--cache-dir", str(local_repo.cache), "backup", str(src))
    assert done.code == 0, done.stderr
    target = tmp_path / "drill"
    code, failed, _summary = drill(run_cli, local_repo, "--target", str(target))
    assert (code, failed) == (0, set())
    (pack,) = (p for p in Path(local_repo.url, "data").rglob("*") if p.is_file())
    flip_bit(pack)
    code, failed, summary = drill(run_cli, local_repo, "--target", str(target))
    assert code == 13, summary  # was 0, "result: PASS"


def test_names_with_control_characters_are_escaped_in_restore_and_drill_lines(
    local_repo: RepoHandle, run_cli: RunCli, tmp_path: Path
) -> None:
    """An attack pass (2026-12-06): a name holding ESC sequences or a newline was printed as
    it is in restore's warning and error lines and restore-test's mismatch lines (recolouring
    the terminal, faking report lines); `ls` escaped it already."""
    forge = Forge(local_repo.open())
    forge.finish(forge.tree([forge.file(b"a\x1b[31m/\nfake: PASS", b"x\n")]))
    base = ("-r", local_repo.url, "--cache-dir", str(local_repo.cache))
    restored = run_cli(*base, "restore", "latest", "-t", str(tmp_path / "t"))
    drilled = run_cli(*base, "restore-test", "--no-record")
    for done in (restored, drilled):
        assert done.code != 0
        assert "\x1b" not in done.stderr and "\\x1b" in done.stderr, done.stderr
        assert not any(line.startswith("fake") for line in done.stderr.splitlines())


def test_a_drill_removes_what_killed_drills_left_in_the_temporary_directory(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Three SIGKILLed drills left 266 MB of restored plain text in $TMPDIR and later drills
    left it all in place (an attack pass, 2026-12-07): a drill first removes the scratch
    directories no live drill holds (each drill locks its own: a drill in another process id
    namespace took a running one's by its id), named as drills name them, of this user, never
    through a link; a name whose number is no process id made an internal error."""
    src = write_file(tmp_path / "src" / "secret.txt", b"plain text\n").parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    tmp = tmp_path / "tmp"
    left = tmp / "s3vault-drill-4242-x1y2"  # a killed drill's: nobody holds its lock
    write_file(left / "deep" / "secret.txt", b"plain text\n")
    (left / "deep").chmod(0o500)  # as restored: a directory without write permission
    huge = write_file(tmp / "s3vault-drill-99999999999999999999-y" / "f", b"x").parent
    held = write_file(tmp / f"s3vault-drill-{os.getpid()}-a1b2" / "f", b"x").parent
    lock = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # a live drill's, in whatever namespace
    other = write_file(tmp / "s3vault-drill-notapid" / "f", b"x").parent
    accented = write_file(tmp / "s3vault-drill-4243-\u00e9" / "f", b"x").parent
    outside = write_file(tmp_path / "outside" / "keep.txt", b"mine\n").parent
    (tmp / "s3vault-drill-4244-link").symlink_to(outside)
    env = {**cli_env, "TMPDIR": str(tmp)}
    try:
        done = run_cli("-r", cli_repo, "restore-test", env=env)
    finally:
        os.close(lock)
    assert done.code == 0, done.stdout + done.stderr
    assert not left.exists()
    # no process id that long: not a drill's name, left alone (it made an internal error)
    assert huge.exists() and held.exists() and other.exists() and accented.exists()
    assert (outside / "keep.txt").read_bytes() == b"mine\n"
    assert (tmp / "s3vault-drill-4244-link").is_symlink()
    kept = run_cli("-r", cli_repo, "restore-test", "--keep", "--json", env=env)
    assert kept.code == 0, kept.stdout + kept.stderr
    assert run_cli("-r", cli_repo, "restore-test", env=env).code == 0
    (kept_dir,) = [p for p in tmp.iterdir() if p.name.startswith("s3vault-drill-kept-")]
    assert (kept_dir / str(src).lstrip("/") / "secret.txt").read_bytes() == b"plain text\n"
    assert not held.exists()  # its holder let go: the last drill's sweep took it


def test_a_tmpdir_that_cannot_be_used_is_said_not_passed_over(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A missing or unusable $TMPDIR sent the drill's restore to /tmp without a word (Python's
    tempfile goes on to the next candidate): plain text where the operator had not put it
    (an attack pass, 2026-12-07)."""
    src = write_file(tmp_path / "src" / "secret.txt", b"plain text\\n").parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    missing = tmp_path / "no-such-dir"
    done = run_cli("-r", cli_repo, "restore-test", env={**cli_env, "TMPDIR": str(missing)})
    assert done.code == 1, done.stdout + done.stderr
    assert (
        f"the temporary directory {missing} ($TMPDIR) cannot be used (No such file or directory)"
        in done.stderr
    )


def test_drill_targets_and_samples_say_what_they_found(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    """An attack pass (2026-12-07): a sampled drill of a name with a backslash failed as
    damage (the sample and the plan spelled the path apart); a target of 0 passed as no
    target; a snapshot dated ahead of the clock passed any RPO target; one of empty files
    missed any RTO target; a sample drawn without --seed recorded none to replay it."""
    src = tmp_path / "src"
    write_file(src / "a\\b", b"a backslash of the name's own")
    assert run_cli("-r", local_repo.url, "backup", str(src), "--host", "bs").code == 0
    for args in (("--sample", "1"), ("--sample", "1", "--no-disk")):
        code, failed, summary = drill(run_cli, local_repo, "--host", "bs", *args)
        assert code == 0 and not failed and summary["passed"], (args, summary)
        assert "seed None" not in str(summary["sample"]), summary
    code, _, summary = drill(run_cli, local_repo, "--host", "bs", "--rpo-target", "0s")
    assert code == 13 and summary["failed_targets"] == ["rpo"], summary
    ahead = ("--host", "future", "--time", "2099-01-01 00:00:00")
    assert run_cli("-r", local_repo.url, "backup", str(src), *ahead).code == 0
    code, _, summary = drill(run_cli, local_repo, "--host", "future", "--rpo-target", "1h")
    assert code == 13 and summary["failed_targets"] == ["rpo"], summary
    write_file(tmp_path / "empty" / "e1", b"")
    assert run_cli("-r", local_repo.url, "backup", str(tmp_path / "empty"), "-H", "e").code == 0
    code, _, summary = drill(run_cli, local_repo, "--host", "e", "--rto-target", "1h")
    assert code == 0 and summary["passed"], summary


def test_options_that_contradict_each_other_are_refused(
    tmp_path: Path, local_repo: RepoHandle, run_cli: RunCli
) -> None:
    """`--no-disk --target DIR` passed --target over (the directory was not even made), and
    `--keep --target` was taken, though usage says one or the other (an attack pass,
    2026-12-07)."""
    for args in (
        ("--no-disk", "--target", str(tmp_path / "t")),
        ("--no-disk", "--keep"),
        ("--keep", "--target", str(tmp_path / "t")),
    ):
        done = run_cli("-r", local_repo.url, "restore-test", *args)
        assert done.code == 2 and "not" in done.stderr, (args, done.stderr)
    assert not (tmp_path / "t").exists()


def test_history_runs_no_drill_and_a_seed_needs_a_sample(
    local_repo: RepoHandle, run_cli: RunCli
) -> None:
    """`--history` passed over every drill option, and `--seed` without a sample ran the
    whole drill saying nothing of it (an attack pass, 2026-12-07)."""
    for args in (("--history", "--no-disk"), ("--history", "latest"), ("--seed", "5")):
        done = run_cli("-r", local_repo.url, "restore-test", *args)
        assert done.code == 2, (args, done.stderr)
    assert run_cli("-r", local_repo.url, "restore-test", "--history").code == 0
