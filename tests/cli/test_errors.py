"""Bad input gets a one-line message, a documented exit code, and loses nothing."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from s3vault import NoKeyError
from s3vault.cli import password
from tests.conftest import S3VAULT, RunCli, write_file


def test_wrong_password_exits_12(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "S3VAULT_PASSWORD": "not the password"}
    done = run_cli("-r", cli_repo, "snapshots", env=env)
    assert done.code == 12
    assert "wrong password" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_repository_exits_10(tmp_path: Path, run_cli: RunCli) -> None:
    done = run_cli("-r", str(tmp_path / "nowhere"), "snapshots")
    assert done.code == 10
    assert "no repository at" in done.stderr


def test_directory_that_is_not_a_repository(tmp_path: Path, run_cli: RunCli) -> None:
    write_file(tmp_path / "stuff" / "file.txt", b"x")
    done = run_cli("-r", str(tmp_path / "stuff"), "snapshots")
    assert done.code == 10
    assert "not an s3vault repository" in done.stderr


def test_a_file_given_as_the_repository_is_not_one(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Exit 10 with what it is, as for a directory holding no repository (it was exit 1,
    "reading FILE/config: Not a directory"; a helper's attack pass), as source and as target."""
    afile = write_file(tmp_path / "afile", b"hi\n")
    for args in (
        ("-r", str(afile), "snapshots"),
        ("-r", cli_repo, "copy", "--to", str(afile)),
        ("-r", str(afile), "init", "--kdf-cost", "minimum"),  # (a review: it was exit 1)
    ):
        done = run_cli(*args)
        assert done.code == 10, done.stderr
        assert f"{afile} is a file, not a repository directory" in done.stderr
    for command in (("snapshots",), ("init", "--kdf-cost", "minimum")):  # a path below it
        done = run_cli("-r", str(afile / "sub"), *command)
        assert done.code == 10, done.stderr
        assert f"{afile} is a file, not a directory: no repository can be at" in done.stderr


def test_a_restic_repository_is_named_as_one_not_as_damage(tmp_path: Path, run_cli: RunCli) -> None:
    """restic's layout (an encrypted config, a key file of plain JSON with its scrypt
    parameters): every command said "the config object ... is damaged" with the advice to put
    back a copy, exit 13. A restic user pointing s3vault at their restic repository is told
    what it is (exit 10) and where to read how to move, and nothing is written."""
    repo = tmp_path / "restic-repo"
    write_file(repo / "config", os.urandom(200))
    key = {"created": "2026-12-06T02:36:26Z", "username": "root", "hostname": "vm"}
    key |= {"kdf": "scrypt", "N": 32768, "r": 8, "p": 6, "salt": "c2FsdA==", "data": "ZGF0YQ=="}
    write_file(repo / "keys" / ("ab" * 32), json.dumps(key).encode())
    for d in ("data", "index", "snapshots", "locks"):
        (repo / d).mkdir()
    before = sorted(repo.rglob("*"))
    for command in (("snapshots",), ("verify",), ("prune",), ("backup", str(repo / "keys"))):
        done = run_cli("-r", str(repo), *command)
        assert done.code == 10, (command, done.stderr)
        assert "is a restic repository, not an s3vault one" in done.stderr
    assert sorted(repo.rglob("*")) == before


def test_a_restic_like_key_file_beside_s3vault_ones_is_no_restic_repository(
    cli_repo: str, run_cli: RunCli
) -> None:
    """A damaged config and a planted restic-like key file listed first: still a damaged
    s3vault repository (exit 13, its advice), not "a restic repository" (exit 10)."""
    repo = Path(cli_repo)
    (repo / "config").write_bytes(os.urandom(200))
    key = {"kdf": "scrypt", "N": 32768, "r": 8, "p": 6, "salt": "c2FsdA==", "data": "ZGF0YQ=="}
    write_file(repo / "keys" / ("00" * 32), json.dumps(key).encode())
    done = run_cli("-r", cli_repo, "snapshots")
    assert done.code == 13, done.stderr
    assert "config object of the repository" in done.stderr and "damaged" in done.stderr


def test_a_config_cut_off_names_the_repository_and_the_way_out(
    cli_repo: str, run_cli: RunCli
) -> None:
    """A config cut off (a write that never finished) said "the config object is damaged"
    with no place and sent the operator to verify, which said the same line."""
    config = Path(cli_repo) / "config"
    config.write_bytes(config.read_bytes()[:100])
    for command in ("snapshots", "verify"):
        done = run_cli("-r", cli_repo, command)
        assert done.code == 13, done.stderr
        assert f"the config object of the repository at {cli_repo} is damaged" in done.stderr
        assert "put back a copy from a replica" in done.stderr
        assert "`s3vault verify` names" not in done.stderr  # verify says just the same


def test_another_repositorys_config_in_its_place_is_damage_not_a_wrong_password(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """It said "wrong password" (exit 12) on a host without the repository in its cache (a
    disaster recovery's): the password was right (an attack pass, 2026-12-07)."""
    other = str(tmp_path / "other")
    other_pw = {**cli_env, "S3VAULT_PASSWORD": "the other's"}
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", other, *init, env=other_pw).code == 0
    shutil.copyfile(Path(cli_repo) / "config", tmp_path / "own-config")
    shutil.copyfile(Path(other) / "config", Path(cli_repo) / "config")
    done = run_cli("-r", cli_repo, "--cache-dir", str(tmp_path / "fresh"), "snapshots")
    assert done.code == 13, done.stderr
    assert f"the config object of the repository at {cli_repo} is not its own" in done.stderr
    assert "put back its own config" in done.stderr
    # another's config and key files copied over this one's (rsync without --delete): this
    # repository's own password opens only a key file the config does not name
    for key in (Path(other) / "keys").iterdir():
        shutil.copyfile(key, Path(cli_repo) / "keys" / key.name)
    done = run_cli("-r", cli_repo, "--cache-dir", str(tmp_path / "fresh2"), "snapshots")
    assert done.code == 13, done.stderr
    assert "which belongs to another repository than the config object names" in done.stderr
    # this repository's own key files damaged beside one stray key file of another: the
    # config is right, the key files are named damaged (it blamed the config)
    config = Path(cli_repo) / "config"
    config.write_bytes((Path(other).parent / "own-config").read_bytes())
    for key in (Path(cli_repo) / "keys").iterdir():
        if (Path(other) / "keys" / key.name).exists():
            continue  # the stray one
        key.write_bytes(key.read_bytes()[:60])
    done = run_cli("-r", cli_repo, "--cache-dir", str(tmp_path / "fresh4"), "snapshots")
    assert done.code == 12, done.stderr
    assert "is not its own" not in done.stderr and "damaged" in done.stderr
    wrong = {**cli_env, "S3VAULT_PASSWORD": "nobody's"}
    fresh = ("--cache-dir", str(tmp_path / "fresh3"))
    assert run_cli("-r", cli_repo, *fresh, "snapshots", env=wrong).code == 12  # a wrong one


def test_an_init_that_did_not_finish_is_no_repository_yet(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """init writes its key file first and the config last: one killed between them left
    a key file alone, which said "the config object is missing … put back a copy from a
    replica" (exit 13) where there is nothing to lose and init again is the way out. Where
    anything else is stored, a missing config is damage, as before."""
    url = str(tmp_path / "repo")
    init = ("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli(*init).code == 0
    (Path(url) / "config").unlink()  # what an init killed after its key file leaves
    shutil.rmtree(Path(url) / "audit")  # (its record comes after the config)
    done = run_cli("-r", url, "snapshots")
    assert done.code == 10, done.stderr
    assert "an `s3vault init` that did not finish; run `s3vault init` again" in done.stderr
    again = run_cli(*init)
    assert again.code == 0, again.stderr
    write_file(tmp_path / "src" / "a", b"a")
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    (Path(url) / "config").unlink()
    lost = run_cli("-r", url, "snapshots")
    assert lost.code == 13, lost.stderr
    assert f"the config object of the repository at {url} is missing" in lost.stderr
    # and init is refused over it (it had made a new repository there, whose advice then
    # removed the old snapshots: an attack pass, 2026-12-07)
    before = sorted(p.name for p in Path(url).rglob("*"))
    over = run_cli(*init)
    assert over.code == 1 and "holds a repository's snapshots but no config" in over.stderr
    assert sorted(p.name for p in Path(url).rglob("*")) == before


def test_no_password_without_terminal_exits_12(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    done = run_cli("-r", cli_repo, "snapshots", env=env)
    assert done.code == 12
    assert "no password" in done.stderr


def test_password_file_and_command(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    pw = write_file(tmp_path / "pw", (cli_env["S3VAULT_PASSWORD"] + "\n").encode())
    assert run_cli("-r", cli_repo, "--password-file", str(pw), "snapshots", env=env).code == 0
    cmd = f"cat {pw}"
    assert run_cli("-r", cli_repo, "snapshots", "--password-command", cmd, env=env).code == 0


def test_a_password_command_is_read_as_sh_would_and_not_waited_for_past_its_exit(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A helper's attack pass: a command that left a child holding its output (``sh -c
    'agent & echo pw'``) held every command 120 s, then failed (exit 12); an unclosed quote was
    an internal error (exit 1); output ending in \\r\\n was a wrong password, where a password
    file ending so opens the repository."""
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    password = cli_env["S3VAULT_PASSWORD"]
    holder = tmp_path / "holder.pid"
    started = time.monotonic()
    lingering = f"sh -c 'sleep 60 & echo $! > {holder}; echo {password}'"
    done = run_cli("-r", cli_repo, "--password-command", lingering, "snapshots", env=env)
    try:
        assert done.code == 0, done.stderr
        assert time.monotonic() - started < 30
    finally:
        os.kill(int(holder.read_text()), signal.SIGKILL)
    late = f"sh -c '(sleep 0.3; echo {password}) &'"  # printed by a child after the exit
    assert run_cli("-r", cli_repo, "--password-command", late, "snapshots", env=env).code == 0
    head, tail = password[:3], password[3:]  # in two pieces: read to its end (a review)
    # (and the child then holds its output: the whole line is the password, a review)
    child = "(sleep 0.2; printf %s " + f'"{head}"; sleep 0.3; echo "{tail}"; exec sleep 60)'
    pieces = f"sh -c '{child} & echo $! > {holder}'"
    started = time.monotonic()
    done = run_cli("-r", cli_repo, "--password-command", pieces, "snapshots", env=env)
    os.kill(int(holder.read_text()), signal.SIGKILL)
    assert done.code == 0, done.stderr
    assert time.monotonic() - started < 30
    two_lines = 'sh -c \'(sleep 0.2; printf "%s\\nmore\\n" ' + f'"{password}") &' + "'"
    assert run_cli("-r", cli_repo, "--password-command", two_lines, "snapshots", env=env).code == 0
    started = time.monotonic()  # a failure is said at once, whatever it left running
    failed = f"sh -c 'sleep 60 & echo $! > {holder}; exit 1'"
    done = run_cli("-r", cli_repo, "--password-command", failed, "snapshots", env=env)
    os.kill(int(holder.read_text()), signal.SIGKILL)
    assert done.code == 12 and "exited with status 1" in done.stderr, done.stderr
    assert time.monotonic() - started < 30
    # each empty or failed source says which it is (the command itself is never echoed)
    for source, says in (
        (("--password-command", "sh -c 'echo >&2 secret-ish'"), "command printed nothing"),
        (("--password-command", "sh -c 'kill -9 $$'"), "was killed by signal 9"),
        (("--password-file", str(write_file(tmp_path / "blank", b"\npw\n"))), "first line"),
    ):
        done = run_cli("-r", cli_repo, *source, "snapshots", env=env)
        assert done.code == 12 and says in done.stderr, (source, done.stderr)
        assert "secret-ish" not in done.stdout
    # an empty command or file given is refused, not taken for none given (S3VAULT_PASSWORD
    # was used instead, without a word)
    for source in (("--password-command", ""), ("--password-file", "")):
        done = run_cli("-r", cli_repo, *source, "snapshots", env=cli_env)
        assert done.code == 2, (source, done.stderr)
    crlf = f"printf '%s\\r\\n' '{password}'"
    assert run_cli("-r", cli_repo, "--password-command", crlf, "snapshots", env=env).code == 0
    for bad in (f"echo '{password}", " "):
        done = run_cli("-r", cli_repo, "--password-command", bad, "snapshots", env=env)
        assert done.code == 2, done.stderr
        assert "internal error" not in done.stderr
        assert password not in done.stderr  # the command line is not echoed: it may be secret


def test_the_first_line_of_a_password_file_is_the_password(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    password = cli_env["S3VAULT_PASSWORD"]
    for content in (f"{password}\nsecond line\n", f"{password}\r\n", password):
        pw = write_file(tmp_path / "pw", content.encode())
        done = run_cli("-r", cli_repo, "--password-file", str(pw), "snapshots", env=env)
        assert done.code == 0, (content, done.stderr)
    spaced = write_file(tmp_path / "spaced", f" {password}\n".encode())  # spaces are kept
    assert run_cli("-r", cli_repo, "--password-file", str(spaced), "snapshots", env=env).code == 12


@pytest.mark.parametrize(
    ("flags", "variables", "named"),
    [
        (
            ("--password-command", "cat pw"),
            {"S3VAULT_PASSWORD_FILE": "pw"},
            "--password-command and S3VAULT_PASSWORD_FILE",
        ),
        (
            ("--password-file", "pw", "--password-command", "cat pw"),
            {},
            "--password-file and --password-command",
        ),
        (
            (),
            {"S3VAULT_PASSWORD_FILE": "pw", "S3VAULT_PASSWORD_COMMAND": "cat pw"},
            "S3VAULT_PASSWORD_FILE and S3VAULT_PASSWORD_COMMAND",
        ),
    ],
)
def test_two_password_sources_are_refused_naming_both(
    flags: tuple[str, ...],
    variables: dict[str, str],
    named: str,
    tmp_path: Path,
    cli_repo: str,
    cli_env: dict[str, str],
    run_cli: RunCli,
) -> None:
    pw = write_file(tmp_path / "pw", (cli_env["S3VAULT_PASSWORD"] + "\n").encode())
    where = {"pw": str(pw), "cat pw": f"cat {pw}", "rk": str(pw)}
    env = {**cli_env, **{k: where[v] for k, v in variables.items()}}
    done = run_cli("-r", cli_repo, *(where.get(f, f) for f in flags), "snapshots", env=env)
    assert done.code == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert all(name in line for name in named.split(" and ")) and "give one" in line
    # a flag beats its own variable: no conflict
    same = {**cli_env, "S3VAULT_PASSWORD_FILE": "/nonexistent"}
    assert run_cli("-r", cli_repo, "--password-file", str(pw), "snapshots", env=same).code == 0


def test_json_errors_go_to_stderr(tmp_path: Path, run_cli: RunCli) -> None:
    done = run_cli("--json", "-r", str(tmp_path / "nowhere"), "snapshots")
    assert done.code == 10
    assert done.stdout == ""
    err = json.loads(done.stderr)
    assert err["message_type"] == "error"
    assert err["exit_code"] == 10


def test_init_refuses_an_existing_repository(cli_repo: str, run_cli: RunCli) -> None:
    done = run_cli("-r", cli_repo, "init", "--kdf-cost", "minimum")
    assert done.code == 1
    assert "already exists" in done.stderr


def test_usage_errors_exit_2(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "missing")).code == 2
    assert run_cli("-r", cli_repo, "restore", "deadbeef", "-t", str(tmp_path / "t")).code == 2
    assert run_cli("-r", cli_repo, "backup", "--no-such-option").code == 2


def _without_dac_override() -> list[str] | None:
    """argv prefix that runs a command as root but subject to file permissions."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        return []  # not root: plain permissions already apply
    if setpriv is None:
        return None
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_file_is_a_warning_and_exit_3(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str]
) -> None:
    prefix = _without_dac_override()
    if prefix is None:
        pytest.skip("needs setpriv (util-linux) to drop root's permission override")
    src = tmp_path / "src"
    write_file(src / "readable", b"fine")
    secret = write_file(src / "secret", b"no access")
    secret.chmod(0)
    done = subprocess.run(
        [*prefix, S3VAULT, "-r", cli_repo, "backup", str(src), "--json"],
        capture_output=True,
        env=cli_env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    lines = [json.loads(x) for x in done.stdout.decode().splitlines()]
    warnings = [x for x in lines if x["message_type"] == "warning"]
    assert [w["item"] for w in warnings] == [str(secret)]
    summary = lines[-1]
    assert summary["incomplete"] is True
    assert summary["files_new"] == 1
    assert summary["files_failed"] == 1
    snaps = subprocess.run(
        [S3VAULT, "-r", cli_repo, "snapshots", "--json"],
        capture_output=True,
        env=cli_env,
        check=True,
    )
    assert json.loads(snaps.stdout)[0]["incomplete"] is True
    table = (
        subprocess.run(
            [S3VAULT, "-r", cli_repo, "snapshots"], capture_output=True, env=cli_env, check=True
        )
        .stdout.decode()
        .splitlines()
    )
    # the mark is the snapshot's, under its time (after the last path it read as the path's)
    (row,) = [
        n
        for n, line in enumerate(table)
        if line.startswith(json.loads(snaps.stdout)[0]["short_id"])
    ]
    assert table[row + 1].split() == ["(incomplete)"], table


def test_sigterm_exits_130_and_writes_no_snapshot(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for i in range(40):
        write_file(src / f"f{i}.bin", os.urandom(2 << 20))
    proc = subprocess.Popen(
        # Throttled, so the signal always lands while the backup is still running.
        [S3VAULT, "-r", cli_repo, "--limit-upload", "4096", "backup", str(src)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not list(Path(cli_repo, "data").rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout) == []


def test_restore_that_cannot_write_names_the_file(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "small", b"s" * 100)
    write_file(src / "huge.bin", os.urandom(3 << 20))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    done = subprocess.run(
        [S3VAULT, "-r", cli_repo, "restore", "latest", "-t", str(tmp_path / "t")],
        capture_output=True,
        env={**cli_env, "PYTHONDONTWRITEBYTECODE": "1"},  # no .pyc cut short (test_output_files)
        preexec_fn=limit_file_size,
        check=False,
        timeout=60,
    )
    # The file the target refuses fails alone (named, one line); the rest is restored.
    assert done.returncode == 3
    message = done.stderr.decode()
    assert "huge.bin" in message
    assert "File too large" in message
    assert len(message.strip().splitlines()) == 1
    restored = tmp_path / "t" / str(src).lstrip("/")
    assert (restored / "small").read_bytes() == b"s" * 100
    # A drill under the same limit fails (it proved less than the snapshot), but says why:
    # the host's limit, not damage (an attack pass: "FAIL (damage found)", every line a
    # "mismatch", in a sound repository)
    drill = subprocess.run(
        [S3VAULT, "--json", "-r", cli_repo, "restore-test", "--no-record"],
        capture_output=True,
        env={**cli_env, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=limit_file_size,
        check=False,
        timeout=60,
    )
    assert drill.returncode == 13, drill.stderr  # documented: a file not restored, any reason
    lines = [json.loads(x) for x in drill.stdout.decode().splitlines()]
    assert lines[-1]["failed_targets"] == ["target_refused"], lines[-1]
    assert any("huge.bin" in x.get("item", "") for x in lines if x["message_type"] == "mismatch")
    said = subprocess.run(
        [S3VAULT, "-r", cli_repo, "restore-test", "--no-record"],
        capture_output=True,
        text=True,
        env={**cli_env, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=limit_file_size,
        check=False,
        timeout=60,
    )
    assert "not restored: " in said.stderr and "mismatch" not in said.stderr, said.stderr
    assert "not damage" in said.stdout and "damage found" not in said.stdout, said.stdout


def _limited(
    kind: int, limit: int, env: dict[str, str], *argv: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real command under a resource limit (``ulimit -n``: RLIMIT_NOFILE; ``ulimit -v``:
    RLIMIT_AS, in bytes)."""

    def apply() -> None:
        resource.setrlimit(kind, (limit, limit))

    return subprocess.run(
        [S3VAULT, *argv],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=apply,
        check=False,
        timeout=timeout,
    )


def test_too_few_file_descriptors_is_said_as_such(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by an operator's attack pass (2026-12-06): under `ulimit -n 12` a backup ended in
    "internal error: OSError: [Errno 24] Too many open files" (starting its workers). It says
    what ran short and how to give more, exit 1, and the repository is as it was."""
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(100_000))
    argv = ("-r", cli_repo, "backup", str(src), "--jobs", "2")
    done = _limited(resource.RLIMIT_NOFILE, 12, cli_env, *argv)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert "too many open files" in done.stderr and "ulimit -n" in done.stderr
    assert "or run with fewer --jobs" in done.stderr  # it ran two
    assert run_cli("-r", cli_repo, "verify").code == 0


@pytest.mark.parametrize("jobs", [[], ["--jobs", "1"]])
def test_a_command_that_ran_one_process_is_not_told_to_run_fewer(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli, jobs: list[str]
) -> None:
    """Found in a review and an attack pass (2026-12-07): `restore` short of descriptors was
    told to "run with fewer --jobs" with `--jobs 1`, and with the default, which restores a
    small snapshot in one process. It is told to raise the limit only."""
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(100_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    argv = ("-r", cli_repo, "restore", "latest", *jobs, "--target", str(tmp_path))
    done = _limited(resource.RLIMIT_NOFILE, 6, cli_env, *argv)
    assert done.returncode == 1, done.stderr
    assert "too many open files" in done.stderr and "ulimit -n 1024" in done.stderr
    assert "--jobs" not in done.stderr, done.stderr


def _chain(top: Path, depth: int, *, make: bool = True) -> bytes:
    """A directory ``depth`` levels below ``top`` (each named ``d``) holding a file ``f``,
    made (or, ``make`` false, read) through descriptors: the path is longer than PATH_MAX.
    Returns the file's content."""
    if make:
        top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            if make:
                os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = below
        if make:
            f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, b"bottom")
            os.close(f)
        f = os.open("f", os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(f, 100)
        finally:
            os.close(f)
    finally:
        os.close(fd)


def test_a_parallel_restore_under_a_low_descriptor_limit_restores_every_file(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by an attack pass (2026-12-07): under `ulimit -n 256` each restore worker kept
    256 written files open, so every further file failed "Too many open files": 482 of 3,001
    files restored (exit 3), and restore-test called a sound repository damaged (exit 13).
    The workers keep at most a quarter of the limit open; running out anyway ends the command
    with the message that says so (exit 1), never as skipped or "differing" files."""
    src = tmp_path / "src"
    for i in range(1500):
        write_file(src / "a" / f"x{i}", f"{i}\n".encode())
    for d in range(200):  # directories on the way were kept open 128 at a time, whatever the
        write_file(src / "d" / str(d) / "f", b"f")  # limit: --jobs 1 failed under 128 (exit 1)
    deep = _chain(src / "deep", 1600)  # past PATH_LIMIT: reached through descriptors only
    write_file(src / "big", os.urandom(34 << 20))  # past SERIAL_BELOW_BYTES: worker processes
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0

    def limited(soft: int) -> Callable[[], None]:
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, soft))

    def run(*args: str, soft: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [S3VAULT, "-r", cli_repo, *args],
            capture_output=True,
            text=True,
            env=cli_env,
            preexec_fn=limited(soft),
            check=False,
            timeout=120,
        )

    done = run("restore", "latest", "--target", str(tmp_path / "t"), soft=128)
    assert done.returncode == 0, done.stderr
    restored = tmp_path / "t" / str(src).lstrip("/")
    assert len(list((restored / "a").iterdir())) == 1500
    assert (restored / "big").read_bytes() == (src / "big").read_bytes()
    drill = run("restore-test", "--no-record", soft=128)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    for jobs in ("1", "2"):
        target = tmp_path / f"low-{jobs}"
        done = run("restore", "latest", "--target", str(target), "--jobs", jobs, soft=40)
        assert done.returncode == 0, done.stderr
        restored = target / str(src).lstrip("/")
        assert len(list((restored / "d").iterdir())) == 200
        bottom = _chain(restored / "deep", 1600, make=False)
        assert bottom == deep  # the deepest file, 1,600 levels down, restored


def test_a_restic_command_with_another_name_here_is_named(run_cli: RunCli) -> None:
    """A restic user's `check` got "Did you mean 'cache'?" (a restic habits attack pass,
    2026-12-06); it names `verify`, which takes the same flags."""
    done = run_cli("check", "--read-data")
    assert done.code == 2
    assert "restic's `check` is `s3vault verify` here" in done.stderr, done.stderr
    assert "cache" not in done.stderr


def test_restics_no_lock_is_named_before_or_after_the_command(run_cli: RunCli) -> None:
    """restic's global --no-lock got "Did you mean '--no-cache'?" (an attack pass, 2026-12-07),
    an unrelated flag; it says that reading takes no lock here."""
    for args in (("--no-lock", "snapshots"), ("snapshots", "--no-lock"), ("prune", "--no-lock")):
        done = run_cli("-r", "/nonexistent", *args)
        assert done.code == 2, (args, done.stderr)
        assert "restic's `--no-lock` is not needed here" in done.stderr, (args, done.stderr)
        assert "--no-cache" not in done.stderr


def test_restics_repository_and_password_file_spellings_are_named(run_cli: RunCli) -> None:
    """restic's --repository got "Did you mean one of: '--repo', '--repository-file'?" and -p
    a bare "No such option" (a restic user's attack pass, 2026-12-07): each names ours."""
    for args, hint in (
        (("--repository", "/nowhere", "snapshots"), "restic's `--repository` is -r/--repo here"),
        (("-r", "/nowhere", "-p", "/pw", "snapshots"), "restic's `-p` is --password-file here"),
        (("-r", "/nowhere", "snapshots", "-p", "/pw"), "restic's `-p` is --password-file here"),
    ):
        done = run_cli(*args)
        assert done.code == 2, (args, done.stderr)
        assert hint in done.stderr, (args, done.stderr)


def test_a_read_back_short_of_memory_says_so_in_one_line(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by attack passes (2026-12-07): under `ulimit -v` a read-back's worker processes
    printed a traceback each ("can't start new thread") before the parent's "out of memory",
    and with `--jobs 1` blake3's threads panicked (a Rust backtrace; with RUST_BACKTRACE=1 a
    deadlock no signal ended). At every limit the command ends in success or in its one
    "out of memory" line (exit 1), in time."""
    src = tmp_path / "src"
    for name, mib in (("a", 25), ("b", 33), ("c", 40)):  # a read-back with worker processes
        write_file(src / name, os.urandom(mib << 20))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    env = {**cli_env, "RUST_BACKTRACE": "1"}
    for limit_mib in range(60, 130, 10):
        for jobs in ([], ["--jobs", "1"]):
            argv = ("-r", cli_repo, "verify", "--read-data", *jobs)
            done = _limited(resource.RLIMIT_AS, limit_mib << 20, env, *argv, timeout=120)
            said = f"ulimit -v {limit_mib} MiB {jobs}: {done.stderr[-2000:]}"
            assert "Traceback" not in done.stderr and "panicked" not in done.stderr, said
            if done.returncode == -signal.SIGABRT and "memory allocation of" in done.stderr:
                continue  # a Rust library's allocation failed: it aborts (not seen here since)
            if done.returncode != 0:
                assert done.returncode == 1, said
                assert "out of memory" in done.stderr, said


def test_a_host_too_short_of_memory_to_load_the_command_gets_one_line(
    cli_repo: str, cli_env: dict[str, str]
) -> None:
    """Found by an attack pass (2026-12-07): under `ulimit -v` 20-40 MiB every command ended
    in a traceback ("ImportError: ... failed to map segment from shared object", or a
    MemoryError in an import), before the CLI's error handling was loaded. The launcher
    (s3vault/__main__.py) says it as the command would: one line, exit 1.

    CI then saw exit 1 and not a word at 40 MiB (1 run in 15 here: the line was made after the
    import that ran out, and could not be), and at 32 MiB 1 run in 6 ended in the interpreter's
    fatal error or a segmentation fault (exit 134, 139): the line is made at the start, and
    below what the command line needs to load it is said without trying. Every run says it."""
    paths = cli_env.get("PYTHONPATH", "").split(os.pathsep)
    # without the suite's sitecustomize (tests/lowkdf_site): it imports a compiled library
    env = {**cli_env, "PYTHONPATH": os.pathsep.join(p for p in paths if "lowkdf" not in p)}
    for limit_mib in (24, 32, 40):  # below 24 the interpreter may not start; above 44 it loads
        for _ in range(3):
            argv = ("-r", cli_repo, "snapshots")
            done = _limited(resource.RLIMIT_AS, limit_mib << 20, env, *argv)
            said = f"ulimit -v {limit_mib} MiB: {done.returncode} {done.stderr[-2000:]}"
            assert done.returncode == 1, said
            assert done.stderr == (
                f"Fatal: out of memory (address space limit, ulimit -v: {limit_mib} MiB): "
                "raise the limit or free memory\n"
            ), said
    done = _limited(resource.RLIMIT_AS, 32 << 20, env, "-r", cli_repo, "snapshots", "--json")
    assert done.returncode == 1 and json.loads(done.stderr) == {
        "message_type": "error",
        "message": "out of memory (address space limit, ulimit -v: 32 MiB): raise the limit "
        "or free memory",
        "exit_code": 1,
    }, done.stderr


def test_a_directory_listing_short_of_memory_while_loading_is_one_line() -> None:
    """At 32 MiB the import system's listing of a package directory failed with ENOMEM, an
    OSError, and the launcher let its traceback through (a whole-suite run, 2026-12-07). The
    launcher ends the process at once after its line (os._exit: a traceback followed the
    line when one more allocation failed), so this runs in a process of its own."""
    code = (
        "import errno\n"
        "from s3vault import __main__ as launcher\n"
        "launcher._load_failed(OSError(errno.ENOMEM, 'Cannot allocate memory', 's3vault/x'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Fatal: out of memory (address space limit"), done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "landing",
    [
        "raise KeyboardInterrupt",  # Ctrl-C: a KeyboardInterrupt traceback, death by the signal
        "os.kill(os.getpid(), signal.SIGTERM)",  # a SIGTERM: it ended the process, 143, silent
        "os.kill(os.getpid(), signal.SIGHUP)",
        # an interrupt inside a class being made is wrapped: "Error calling __set_name__"
        "raise RuntimeError('Error calling __set_name__') from KeyboardInterrupt()",
    ],
)
def test_a_stop_while_the_command_loads_is_one_line_and_exit_130(
    cli_env: dict[str, str], landing: str
) -> None:
    """Attack passes (2026-12-07): SIGINT in a command's first 0.2 s (while it imports) ended
    in a KeyboardInterrupt traceback and death by the signal, SIGTERM ended it by the signal
    (exit 143, no word), and one landing in a class definition of the standard library made a
    RuntimeError traceback (exit 1); later on, and now there too: "Fatal: interrupted", exit
    130. The stop is made to land in the import here (an import hook), as a signal does."""
    done = _stop_in_import("s3vault.cli", landing, cli_env)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "Fatal: interrupted\n"
    done = _stop_in_import("s3vault.cli", landing, cli_env, argv=["--json", "snapshots"])
    assert done.returncode == 130, done.stderr  # with --json, the JSON error object
    assert json.loads(done.stderr) == INTERRUPTED_JSON


INTERRUPTED_JSON = {"message_type": "error", "message": "interrupted", "exit_code": 130}


def _stop_in_import(
    module: str, landing: str, env: dict[str, str], *, argv: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command (``argv``, else the interpreter's own) in a fresh interpreter, stopped by
    ``landing`` when ``module`` is imported (an import hook), as a signal would land there."""
    script = (
        "import os, signal, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        f"            {landing}\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        + (f"sys.argv[1:] = {argv!r}\n" if argv is not None else "")
        + "from s3vault.__main__ import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def test_a_password_command_that_takes_too_long_ends_with_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password command past its time limit was killed, but what it had started (here a
    ``sleep``) ran on under init (an attack pass, 2026-12-07)."""
    monkeypatch.setattr(password, "COMMAND_TIMEOUT", 1.0)  # 120 s for users
    pids = tmp_path / "pids"
    command = f"sh -c 'echo $$ > {pids}; sleep 60 & echo $! >> {pids}; printf p; wait'"
    with pytest.raises(NoKeyError, match="did not exit within"):
        password._from_command(command)
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    deadline = time.monotonic() + 10
    while any(map(_running, started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, started))


def test_init_refuses_a_repository_inside_another(tmp_path: Path, run_cli: RunCli) -> None:
    """A repository made in another's folder (``repo/snapshots``) was listed by the outer one,
    whose advice (`forget` the unreadable snapshot) then deleted the inner one's pack (an attack
    pass, 2026-12-07). A folder that merely holds a file named ``config`` is no repository."""
    outer = tmp_path / "repo"
    assert run_cli("-r", str(outer), "init", "--kdf-cost", "minimum").code == 0
    deep = outer.joinpath(*["d"] * 200)  # a deep path: one backend asks every parent
    for inner in (outer / "snapshots", outer / "x" / "y", deep):
        done = run_cli("-r", str(inner), "init", "--kdf-cost", "minimum")
        assert done.code == 1, done.stderr
        assert done.stderr.splitlines() == [
            f"Fatal: {inner} is inside the repository at {outer}: that repository would read "
            "this one's objects as its own (and its repairs would delete them); init somewhere "
            "outside it (another prefix or directory)"
        ]
        assert not inner.exists()
    write_file(tmp_path / "etc" / "config", b"[core]\n")
    assert run_cli("-r", str(tmp_path / "etc" / "repo"), "init", "--kdf-cost", "minimum").code == 0


def test_init_refuses_a_location_whose_folder_holds_another_repository(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """The other order: a repository made first at ``x/keys``, then one at ``x``, whose key
    listing took the first one's config and packs for damaged key files (an attack pass,
    2026-12-07)."""
    for folder, below in (
        ("keys", ""),
        ("locks", ""),
        ("audit", ""),
        ("state", "/web"),
        ("data", "/ab"),
    ):
        outer = tmp_path / folder / "x"
        inner = f"{outer / folder}{below}"
        assert run_cli("-r", inner, "init", "--kdf-cost", "minimum").code == 0
        done = run_cli("-r", str(outer), "init", "--kdf-cost", "minimum")
        assert done.code == 1, done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith(f"Fatal: {outer} holds {folder}{below}/config: another ")
        assert line.endswith(
            f"repository inside its folder {folder}/ (or a file that is no s3vault "
            "repository's): a repository here would read those objects as its own (and its "
            "repairs and prune would delete them); init in an empty directory or prefix"
        )


def test_init_refuses_a_location_whose_key_or_data_folder_holds_someone_elses_files(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """keys/id_rsa was taken for a damaged key file, and verify's advice (`key remove
    id_rsa`) deleted it; data/sales.csv was "a repository's data but no config" (an attack
    pass, 2026-12-07)."""
    for name in ("keys/id_rsa", "data/sales.csv"):
        where = tmp_path / name.replace("/", "-")
        write_file(where / name, b"someone's\n")
        done = run_cli("-r", str(where), "init", "--kdf-cost", "minimum")
        assert done.code == 1, done.stderr
        assert done.stderr.splitlines() == [
            f"Fatal: {where} holds objects that are no s3vault repository's (first: {name}): "
            "a repository here would take them for its own; init in an empty directory or "
            "prefix"
        ]
        assert (where / name).read_bytes() == b"someone's\n"


def test_init_passes_over_a_fifo_or_a_folder_named_config_above_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A FIFO named ``config`` in a parent directory hung init for ever (its check of the
    enclosing locations opened it and waited for a writer: an attack pass, 2026-12-07)."""
    os.mkfifo(tmp_path / "config")
    (tmp_path / "d" / "config").mkdir(parents=True)
    for url in (tmp_path / "repo", tmp_path / "d" / "repo"):
        done = run_cli("-r", str(url), "init", "--kdf-cost", "minimum", timeout=30)
        assert done.code == 0, done.stderr


def test_a_fifo_where_an_object_should_be_is_damage_not_a_hang(
    cli_repo: str, run_cli: RunCli
) -> None:
    (Path(cli_repo) / "keys" / ("ab" * 32)).unlink(missing_ok=True)
    os.mkfifo(Path(cli_repo) / "keys" / ("ab" * 32))
    done = run_cli("-r", cli_repo, "verify", timeout=30)
    assert done.code == 13, done.stderr
    assert "is a FIFO, not an object" in done.stderr


def test_a_directory_at_the_maintenance_lease_says_how_to_go_on(
    cli_repo: str, run_cli: RunCli
) -> None:
    """A directory at locks/maintenance stopped every prune with "verify names what is
    damaged", and verify found nothing (an attack pass, 2026-12-07)."""
    stray = Path(cli_repo) / "locks" / "maintenance"
    stray.mkdir(parents=True)
    done = run_cli("-r", cli_repo, "prune")
    assert done.code == 13, done.stderr
    assert f"{stray} is a directory, not an object" in done.stderr
    assert "move it out of the repository directory and run the command again" in done.stderr
    stray.rmdir()
    assert run_cli("-r", cli_repo, "prune").code == 0


def test_a_file_nested_below_keys_is_no_key_file(cli_repo: str, run_cli: RunCli) -> None:
    """``keys/sub/ab00…`` was read as a damaged key file (verify exit 13), and the advice
    (`key remove ab000000`) said "not found" (an attack pass, 2026-12-07)."""
    write_file(Path(cli_repo) / "keys" / "sub" / ("ab" + "0" * 62), b"junk\n")
    done = run_cli("-r", cli_repo, "verify")
    assert done.code == 0, done.stderr
    listed = run_cli("-r", cli_repo, "--json", "key", "list")
    assert "sub" not in listed.stdout


def _fifo_for_the_pack(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> Path:
    """A backup of one file, then a FIFO in the place of its one data pack."""
    write_file(tmp_path / "src" / "x", b"hi\n")
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0
    (pack,) = (p for p in (Path(cli_repo) / "data").glob("*/*"))
    pack.unlink()
    os.mkfifo(pack)
    return pack


def test_a_fifo_where_a_pack_should_be_is_one_finding_and_repair_index_goes_on(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """verify --read-data and repair index stopped at it with one Fatal line, naming nothing
    else and pointing back at verify (an attack pass, 2026-12-07)."""
    pack = _fifo_for_the_pack(tmp_path, cli_repo, run_cli)
    checked = run_cli("-r", cli_repo, "verify", "--read-data", timeout=30)
    assert checked.code == 13, checked.stderr
    assert "Fatal" not in checked.stderr
    assert f"cannot read the pack: data/{pack.parent.name}/{pack.name}" in checked.stderr
    assert "is a FIFO, not an object" in checked.stderr
    repaired = run_cli("-r", cli_repo, "repair", "index", timeout=30)
    assert repaired.code == 13, repaired.stderr
    assert "Fatal" not in repaired.stderr and "1 blob is lost" in repaired.stdout


def test_repair_snapshots_leaves_out_what_a_fifo_in_a_packs_place_held(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The advice for a pack that is a FIFO (`repair snapshots`) ended in the same Fatal
    line, pointing back at verify (an attack pass, 2026-12-07)."""
    _fifo_for_the_pack(tmp_path, cli_repo, run_cli)
    done = run_cli("-r", cli_repo, "repair", "snapshots", timeout=30)
    assert done.code == 0, done.stderr
    assert "left out file" in done.stdout and "is a FIFO, not an object" in done.stdout


def test_a_stop_while_a_command_is_parsed_says_it_as_json_with_json(
    cli_env: dict[str, str],
) -> None:
    """Once the command line has loaded, before the command's own options are parsed, a stop
    with --json printed the plain "Fatal: interrupted" (an attack pass, 2026-12-07: SIGINT
    or SIGTERM 0.3-0.4 s into `verify --read-data --json`). It lands here in the import of the
    command's module, which the command line loads when the command is named."""
    argv = ["-r", "/nowhere", "snapshots", "--json"]
    done = _stop_in_import(
        "s3vault.cli.commands.snapshots", "raise KeyboardInterrupt", cli_env, argv=argv
    )
    assert done.returncode == 130, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == INTERRUPTED_JSON, done.stderr
