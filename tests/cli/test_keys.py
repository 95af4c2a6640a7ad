"""key list / add / passwd / remove through the real CLI: new key files are checked before
success, the last usable key file can never be removed, the one in use only with --force."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import RunCli, write_file


def keys(run_cli: RunCli, url: str, **env: str) -> list[dict[str, object]]:
    done = run_cli("-r", url, "--json", "key", "list", env=env or None)
    assert done.code == 0, done.stderr
    listed: list[dict[str, object]] = json.loads(done.stdout)
    return listed


def with_password(cli_env: dict[str, str], password: str) -> dict[str, str]:
    return {**cli_env, "S3VAULT_PASSWORD": password}


def test_add_list_and_open_with_either_password(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    (first,) = keys(run_cli, cli_repo)
    assert first["current"] is True and first["usable"] is True and first["kind"] == "password"
    # the repository id KMS key policies name: the config's, in full
    config = json.loads((Path(cli_repo) / "config").read_text())
    assert first["repository_id"] == config["repo_id"]
    shown = run_cli("-r", cli_repo, "key", "list")
    assert shown.stdout.splitlines()[0] == f"repository {config['repo_id']}"
    pw_file = write_file(tmp_path / "new-pw", b"second secret\n")
    done = run_cli(
        "-r",
        cli_repo,
        "key",
        "add",
        "--label",
        "ops team",
        "--new-password-file",
        str(pw_file),
        "--kdf-cost",
        "minimum",
    )
    assert done.code == 0, done.stderr
    assert "checked" in done.stdout
    listed = {str(k["label"]): k["current"] for k in keys(run_cli, cli_repo)}
    assert listed == {"": True, "ops team": False}
    as_second = keys(run_cli, cli_repo, **with_password(cli_env, "second secret"))
    # the new password opens the new key file
    assert {str(k["label"]): k["current"] for k in as_second} == {"": False, "ops team": True}
    assert run_cli("-r", cli_repo, "snapshots", env=with_password(cli_env, "wrong")).code == 12


def test_key_hint_names_the_key_to_try_first_as_restics_does(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    pw_file = write_file(tmp_path / "new-pw", b"second secret\n")
    args = ("--label", "ops", "--new-password-file", str(pw_file), "--kdf-cost", "minimum")
    assert run_cli("-r", cli_repo, "key", "add", *args).code == 0
    ops = next(k for k in keys(run_cli, cli_repo) if k["label"] == "ops")
    second = with_password(cli_env, "second secret")
    for env, flags in (
        (second, ("--key-hint", str(ops["id"])[:6])),
        ({**second, "S3VAULT_KEY_HINT": str(ops["id"])[:8].upper()}, ()),
        (second, ("--key-hint", "ffff")),  # names no key: every key is still tried
        (cli_env, ("--key-hint", str(ops["id"])[:6])),  # names another key: likewise
    ):
        done = run_cli("-r", cli_repo, *flags, "snapshots", env=env)
        assert done.code == 0, (flags, done.stderr)
    refused = run_cli("-r", cli_repo, "--key-hint", "web-01", "snapshots")
    assert refused.code == 2
    assert refused.stderr.count("\n") == 1 and "--key-hint 'web-01'" in refused.stderr
    by_env = run_cli("-r", cli_repo, "snapshots", env={**cli_env, "S3VAULT_KEY_HINT": "web-01"})
    assert by_env.code == 2 and "S3VAULT_KEY_HINT 'web-01'" in by_env.stderr  # as it was given
    # a config profile's key_hint, which the flag and the environment variable beat
    config = write_file(
        tmp_path / "config.toml",
        f'[profiles.ops]\nkey_hint = "{str(ops["id"])[:8]}"\n'
        '[profiles.typo]\nkey_hint = "web-01"\n'.encode(),
    )
    cfg = ("--config", str(config), "-r", cli_repo)
    assert run_cli(*cfg, "-P", "ops", "snapshots", env=second).code == 0
    assert run_cli(*cfg, "-P", "typo", "snapshots", env=second).code == 2
    beaten = {**second, "S3VAULT_KEY_HINT": str(ops["id"])[:4]}
    assert run_cli(*cfg, "-P", "typo", "snapshots", env=beaten).code == 0
    assert run_cli(*cfg, "-P", "typo", "--key-hint", "ab", "snapshots", env=second).code == 0


def test_passwd_replaces_the_key_in_use(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "changed secret"}
    done = run_cli("-r", cli_repo, "key", "passwd", "--kdf-cost", "minimum", env=env)
    assert done.code == 0, done.stderr
    assert run_cli("-r", cli_repo, "snapshots").code == 12  # the old password is gone
    (only,) = keys(run_cli, cli_repo, **with_password(cli_env, "changed secret"))
    assert only["current"] is True


def test_kdf_cost_keeps_its_earlier_spelling_out_of_help(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """--kdf-profile, the earlier name of --kdf-cost, is still accepted by init and key add
    and passwd (scripts written for it keep working); --help shows only --kdf-cost."""
    for command in (("init",), ("key", "add"), ("key", "passwd")):
        shown = run_cli(*command, "--help").stdout
        assert "--kdf-cost" in shown and "--kdf-profile" not in shown, command
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "old spelling"}
    assert run_cli("-r", cli_repo, "key", "add", "--kdf-profile", "minimum", env=env).code == 0
    refused = run_cli("-r", cli_repo, "key", "add", "--kdf-profile", "tiny", env=env)
    assert refused.code == 2 and "Invalid value for '--kdf-cost'" in refused.stderr
    labels = [k["label"] for k in keys(run_cli, cli_repo, **with_password(cli_env, "old spelling"))]
    assert len(labels) == 2


def test_remove_refuses_the_last_key_and_the_one_in_use(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    (only,) = keys(run_cli, cli_repo)
    short = str(only["id"])[:8]
    for args in ((), ("--force",)):
        done = run_cli("-r", cli_repo, "key", "remove", short, *args)
        assert done.code == 2 and "last key file" in done.stderr, done.stderr
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "other"}
    assert run_cli("-r", cli_repo, "key", "add", "--kdf-cost", "minimum", env=env).code == 0
    done = run_cli("-r", cli_repo, "key", "remove", short)
    assert done.code == 2 and "--force" in done.stderr
    assert run_cli("-r", cli_repo, "key", "remove", "ffffffffff").code == 2
    other = next(k for k in keys(run_cli, cli_repo) if not k["current"])
    assert run_cli("-r", cli_repo, "key", "remove", str(other["id"])[:10]).code == 0
    assert len(keys(run_cli, cli_repo)) == 1
    assert run_cli("-r", cli_repo, "snapshots").code == 0
    # by label: unique labels only
    for label in ("alice", "ops", "ops"):
        add = ("key", "add", "--kdf-cost", "minimum", "--label", label)
        assert run_cli("-r", cli_repo, *add, env=env).code == 0
    twice = run_cli("-r", cli_repo, "key", "remove", "ops")
    assert twice.code == 2 and "matches 2 key files" in twice.stderr
    assert run_cli("-r", cli_repo, "key", "remove", "alice").code == 0
    assert sorted(str(k["label"]) for k in keys(run_cli, cli_repo)) == ["", "ops", "ops"]


def test_a_label_that_starts_another_keys_id_removes_neither(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A key labelled with the first digits of another key's id (an employee number, "2024"):
    `key remove LABEL` named the other key (by id prefix) and removed it, the labelled one
    staying. Now neither goes; more of the id removes the one meant."""
    (first,) = keys(run_cli, cli_repo)
    label = str(first["id"])[:6]  # (2 digits: 1 new key in 256 began alike, a flake)
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "other"}
    add = ("key", "add", "--kdf-cost", "minimum", "--label", label)
    assert run_cli("-r", cli_repo, *add, env=env).code == 0
    done = run_cli("-r", cli_repo, "key", "remove", label, "--force")
    assert done.code == 2, done.stderr
    assert "label of one key file and the start of another's id" in done.stderr
    assert len(keys(run_cli, cli_repo)) == 2
    labelled = next(k for k in keys(run_cli, cli_repo) if k["label"] == label)
    assert run_cli("-r", cli_repo, "key", "remove", str(labelled["id"])[:12]).code == 0
    assert [k["id"] for k in keys(run_cli, cli_repo)] == [first["id"]]
    # a label that is another key's whole id: the whole id names that key (nothing more of
    # it to give), the labelled one stays
    add = ("key", "add", "--kdf-cost", "minimum", "--label", str(first["id"]))
    assert run_cli("-r", cli_repo, *add, env=env).code == 0
    done = run_cli("-r", cli_repo, "key", "remove", str(first["id"]), "--force")
    assert done.code == 0, done.stderr
    left = keys(run_cli, cli_repo, **with_password(cli_env, "other"))
    assert [k["label"] for k in left] == [first["id"]]


def test_a_damaged_key_file_is_listed_unusable_and_not_counted(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "other"}
    assert run_cli("-r", cli_repo, "key", "add", "--kdf-cost", "minimum", env=env).code == 0
    other = next(k for k in keys(run_cli, cli_repo) if not k["current"])
    path = Path(cli_repo) / "keys" / str(other["id"])
    damaged = bytearray(path.read_bytes())
    damaged[-20] ^= 1
    path.write_bytes(bytes(damaged))
    listed = {str(k["id"]): k for k in keys(run_cli, cli_repo)}
    assert listed[str(other["id"])]["usable"] is False
    (current,) = [k for k in listed.values() if k["current"]]
    done = run_cli("-r", cli_repo, "key", "remove", str(current["id"]), "--force")
    assert done.code == 2 and "last key file" in done.stderr
    assert run_cli("-r", cli_repo, "snapshots").code == 0  # the original password opens it


def test_the_recovery_key_opens_the_repository_when_every_password_is_lost(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    done = run_cli("-r", url, "init", "--kdf-cost", "minimum")
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    text = lines[next(i for i, line in enumerate(lines) if "Recovery key" in line) + 1].strip()
    assert len(text.split("-")) == 14
    kinds = sorted(str(k["kind"]) for k in keys(run_cli, url))
    assert kinds == ["password", "recovery"]
    no_password = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    sloppy = write_file(tmp_path / "rk.txt", text.lower().replace("-", " ").encode() + b"\n")
    assert (
        run_cli("-r", url, "--recovery-key-file", str(sloppy), "snapshots", env=no_password).code
        == 0
    )
    typo = write_file(
        tmp_path / "typo.txt", ("Q" if text[0] != "Q" else "R").encode() + text[1:].encode()
    )
    done = run_cli("-r", url, "--recovery-key-file", str(typo), "snapshots", env=no_password)
    assert done.code == 2 and "mistyped" in done.stderr, done.stderr
    # every password lost: the recovery key sets a new one, and stays
    env = {**no_password, "S3VAULT_RECOVERY_KEY_FILE": str(sloppy), "S3VAULT_NEW_PASSWORD": "new"}
    changed = run_cli("-r", url, "key", "passwd", "--kdf-cost", "minimum", env=env)
    assert changed.code == 0, changed.stderr
    assert "the recovery key stays" in changed.stdout  # not "replaces the old key file"
    assert run_cli("-r", url, "snapshots", env={**no_password, "S3VAULT_PASSWORD": "new"}).code == 0
    assert sorted(str(k["kind"]) for k in keys(run_cli, url)) == [
        "password",
        "password",
        "recovery",
    ]
    assert run_cli("-r", url, "init", "--no-recovery-key", env=cli_env).code != 0  # exists already
    other = str(tmp_path / "other")
    assert run_cli("-r", other, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    # another repository's recovery key (a DR copy's own, say): called a wrong password, with
    # no password given (a DR drill attack pass, 2026-12-06)
    wrong = run_cli("-r", other, "--recovery-key-file", str(sloppy), "snapshots", env=no_password)
    assert wrong.code == 12
    assert "wrong recovery key" in wrong.stderr and "its own recovery key" in wrong.stderr
    assert [k["kind"] for k in keys(run_cli, other)] == ["password"]
    added = run_cli("-r", other, "key", "add", "--recovery")
    assert added.code == 0, added.stderr
    lines = added.stdout.splitlines()
    text = lines[next(i for i, line in enumerate(lines) if "Recovery key" in line) + 1].strip()
    late = write_file(tmp_path / "late.txt", text.encode())
    env = {**no_password, "S3VAULT_RECOVERY_KEY_FILE": str(late)}
    assert run_cli("-r", other, "snapshots", env=env).code == 0
    assert sorted(str(k["kind"]) for k in keys(run_cli, other)) == ["password", "recovery"]
    # with --json, stdout is JSON only: the recovery key is a field of the one line
    second = run_cli("-r", other, "--json", "key", "add", "--recovery")
    assert second.code == 0, second.stderr
    (line,) = second.stdout.splitlines()
    text = json.loads(line)["recovery_key"]
    late.write_text(text)
    assert run_cli("-r", other, "snapshots", env=env).code == 0


def test_a_damaged_key_file_is_named_not_called_a_wrong_password(
    cli_repo: str, run_cli: RunCli
) -> None:
    """Defect 11: the key file the password belongs to is damaged. The error names it and
    points at the recovery key; exit 12 stays. A key file that does not parse is named too."""
    (key,) = keys(run_cli, cli_repo)
    path = Path(cli_repo) / "keys" / str(key["id"])
    original = path.read_bytes()
    doc = json.loads(original)
    # One bit of the MAC (a digit, which stays a digit): the password opens the key file,
    # its checks fail.
    start = original.index(doc["mac"].encode())
    digit = next(i for i, c in enumerate(doc["mac"]) if c.isdigit())
    mac = bytearray(original)
    mac[start + digit] ^= 1
    path.write_bytes(bytes(mac))
    done = run_cli("-r", cli_repo, "snapshots")
    assert done.code == 12
    assert f"key file {str(key['id'])[:8]}" in done.stderr and "is damaged" in done.stderr
    assert "--recovery-key-file" in done.stderr
    assert "wrong password" not in done.stderr
    # Not JSON any more: named as damaged, with the same way out.
    path.write_bytes(original[:-40])
    done = run_cli("-r", cli_repo, "snapshots")
    assert done.code == 12
    assert f"key file {str(key['id'])[:8]} (" in done.stderr and "is damaged" in done.stderr
    assert "--recovery-key-file" in done.stderr


def _kdf(repo: Path, label: str) -> tuple[int, int, int]:
    for path in (repo / "keys").iterdir():
        kf = json.loads(path.read_text())
        if kf.get("label", "") == label:
            k = kf["kdf"]
            return k["memory_kib"], k["iterations"], k["lanes"]
    raise AssertionError(f"no key file labelled {label!r}")


def test_a_new_key_costs_32_mib_by_default_and_strong_costs_more(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """The default cost is restic's scrypt memory, 32 MiB, with t=8 (the CPU time of RFC 9106's
    second recommendation, 64 MiB and t=3), p=4; `strong` is
    256 MiB; `small` (the earlier name of the default) stays accepted. The key file the
    repository was made with keeps its own parameters and still opens."""
    repo = Path(cli_repo)
    made_with = _kdf(repo, "")
    for label, cost in (("d", None), ("s", "strong"), ("old", "small")):
        # the real presets (the suite's are lowered: tests/lowkdf_site/sitecustomize.py)
        env = {**cli_env, "S3VAULT_NEW_PASSWORD": f"pw {label}", "S3VAULT_TEST_REAL_KDF": "1"}
        flags = ["--kdf-cost", cost] if cost else []
        done = run_cli("-r", cli_repo, "key", "add", "--label", label, *flags, env=env)
        assert done.code == 0, done.stderr
    assert _kdf(repo, "d") == (32 * 1024, 8, 4)
    assert _kdf(repo, "s") == (256 * 1024, 3, 4)
    assert _kdf(repo, "old") == (32 * 1024, 8, 4)
    assert _kdf(repo, "") == made_with
    assert run_cli("-r", cli_repo, "snapshots").code == 0
    for label in ("d", "s"):
        opened = keys(run_cli, cli_repo, **with_password(cli_env, f"pw {label}"))
        assert [k["label"] for k in opened if k["current"]] == [label]


def test_a_stray_file_in_keys_is_removed_as_verify_says(cli_repo: str, run_cli: RunCli) -> None:
    """verify names a file in keys/ that is no key and the `key remove` that removes it; a
    name with capitals (README.txt) was then "no key file", and verify failed for good."""
    write_file(Path(cli_repo) / "keys" / "README.txt", b"hi\n")
    found = run_cli("-r", cli_repo, "verify")
    assert found.code == 13, found.stderr
    told = found.stdout + found.stderr
    suggested = told.split("`s3vault key remove ", 1)[1].split("`", 1)[0]
    assert "README.txt".startswith(suggested), told
    removed = run_cli("-r", cli_repo, "key", "remove", suggested)
    assert removed.code == 0, removed.stderr
    assert not (Path(cli_repo) / "keys" / "README.txt").exists()
    assert run_cli("-r", cli_repo, "verify").code == 0


def _removal_named_by_verify(run_cli: RunCli, repo: str) -> str:
    """What the first `s3vault key remove ...` verify names takes."""
    found = run_cli("-r", repo, "verify")
    assert found.code == 13, found.stderr
    told = found.stdout + found.stderr
    return told.split("`s3vault key remove ", 1)[1].split("`", 1)[0]


def test_verify_names_a_start_of_a_stray_key_name_that_key_remove_takes_alone(
    cli_repo: str, run_cli: RunCli
) -> None:
    """A stray file named like a key's id in capitals began with the same 8 characters as the
    key's id when those were digits (1 id in 43): verify named those 8, and `key remove`
    refused them as matching two key files (a whole-suite run, 2026-12-07). Two strays that
    differ only in case after 8 digits: verify names each by as much as tells it apart."""
    strays = ["12345678ABCDEF" + "0" * 50, "12345678abcdef" + "0" * 50]
    for name in strays:
        write_file(Path(cli_repo) / "keys" / name, b"junk\n")
    for left, told in ((1, ("12345678A", "12345678a")), (0, ("12345678",))):
        named = _removal_named_by_verify(run_cli, cli_repo)
        assert named in told, named  # the 8 characters once they name one key file
        removed = run_cli("-r", cli_repo, "key", "remove", named)
        assert removed.code == 0, removed.stderr
        still = [n for n in strays if (Path(cli_repo) / "keys" / n).exists()]
        assert len(still) == left and not any(n.startswith(named) for n in still), still
    assert run_cli("-r", cli_repo, "verify").code == 0


def test_names_in_capitals_never_remove_another_key(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Ids match in any case only where nothing matches as given: a stray file named like a
    key's id in capitals left neither removable, and a label in capitals removed the key
    whose id it spelled (an attack pass, 2026-12-07)."""
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "second"}
    assert run_cli("-r", cli_repo, "key", "add", "--kdf-cost", "minimum", env=env).code == 0
    other = next(k for k in keys(run_cli, cli_repo) if not k["current"])
    oid = str(other["id"])
    write_file(Path(cli_repo) / "keys" / oid.upper(), b"junk\n")
    stray = run_cli("-r", cli_repo, "key", "remove", _removal_named_by_verify(run_cli, cli_repo))
    assert stray.code == 0, stray.stderr
    assert not (Path(cli_repo) / "keys" / oid.upper()).exists()
    assert (Path(cli_repo) / "keys" / oid).exists()
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "third"}
    label = ("--label", oid.upper())
    assert run_cli("-r", cli_repo, "key", "add", "--kdf-cost", "minimum", *label, env=env).code == 0
    refused = run_cli("-r", cli_repo, "key", "remove", oid.upper())
    assert refused.code == 2 and "label of one key file" in refused.stderr, refused.stderr
    assert (Path(cli_repo) / "keys" / oid).exists()
    assert run_cli("-r", cli_repo, "key", "remove", oid).code == 0  # the whole id, as listed
    assert not (Path(cli_repo) / "keys" / oid).exists()


def test_a_key_file_under_another_name_is_never_one_verify_tells_to_remove(
    cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A key file's copy under another name (another key's id in capitals, `H.old`): verify
    named `key remove 3BDDBD62`, which removed the good key file 3bddbd62 (its password then
    opened nothing; an attack pass, 2026-12-07). `key remove` knows key files by the id
    inside, so verify names none for them: it says which file the key belongs to and what to
    do with a copy, a rename or a swap, and doing it leaves every key opening."""
    ids = {}
    for label in ("G", "H"):
        env = {**cli_env, "S3VAULT_NEW_PASSWORD": f"pw {label}"}
        assert run_cli("-r", cli_repo, "key", "add", "--label", label, env=env).code == 0
        ids[label] = next(k["id"] for k in keys(run_cli, cli_repo) if k["label"] == label)
    folder = Path(cli_repo) / "keys"
    held = (folder / ids["H"]).read_bytes()
    copies = [ids["G"].upper(), f"{ids['H']}.old"]
    for name in copies:
        write_file(folder / name, held)
    found = run_cli("-r", cli_repo, "verify")
    assert found.code == 13, found.stderr
    told = found.stdout + found.stderr
    for name in copies:
        line = next(x for x in told.splitlines() if f"keys/{name}:" in x)
        assert f"it holds key file keys/{ids['H']}." in line, line
        assert "is a copy: move it out of the repository" in line and "key remove" not in line
    for name in copies:  # as told: keys/H is there and holds the same key
        (folder / name).rename(Path(cli_repo).parent / name)
    for label in ("G", "H"):
        opened = run_cli("-r", cli_repo, "snapshots", env=with_password(cli_env, f"pw {label}"))
        assert opened.code == 0, (label, opened.stderr)
    assert run_cli("-r", cli_repo, "verify").code == 0


def test_a_renamed_key_file_is_renamed_back_as_verify_says(cli_repo: str, run_cli: RunCli) -> None:
    """The only key file renamed: the repository still opens through it, and verify says to
    rename it to its id (not to remove it)."""
    folder = Path(cli_repo) / "keys"
    for listed in keys(run_cli, cli_repo):
        if listed["kind"] == "recovery":
            assert run_cli("-r", cli_repo, "key", "remove", listed["id"]).code == 0
    [only] = list(folder.iterdir())
    only.rename(folder / "renamed")
    assert run_cli("-r", cli_repo, "snapshots").code == 0
    found = run_cli("-r", cli_repo, "verify")
    assert found.code == 13, found.stderr
    told = found.stdout + found.stderr
    assert f"if there is no keys/{only.name}, rename keys/renamed to it" in told, told
    assert "key remove" not in told, told
    (folder / "renamed").rename(only)
    assert run_cli("-r", cli_repo, "verify").code == 0


def test_a_stray_key_name_that_is_no_utf8_is_removed_as_verify_spells_it(
    cli_repo: str, run_cli: RunCli
) -> None:
    """A stray file in keys/ whose name is no UTF-8: verify named `key remove \\udcff\\udcfeJUNK`,
    which no shell passes back. It names the bytes as listings show them (`\\xff`), and `key
    remove` takes that spelling (as it takes the bytes themselves)."""
    folder = Path(cli_repo) / "keys"
    for raw in (b"\xff\xfeJUNK", b"\xfdjunk\xfc"):
        write_file(Path(os.fsdecode(os.path.join(os.fsencode(folder), raw))), b"junk\n")
    found = run_cli("-r", cli_repo, "verify")
    assert "\\udc" not in found.stdout + found.stderr, found.stderr
    assert "error: keys/\\xff\\xfeJUNK: key file damaged" in found.stderr, found.stderr
    assert _removal_named_by_verify(run_cli, cli_repo) == "\\xfdjunk\\xfc"
    assert run_cli("-r", cli_repo, "key", "remove", "\\xfdjunk\\xfc").code == 0
    assert _removal_named_by_verify(run_cli, cli_repo) == "\\xff\\xfeJUNK"
    assert run_cli("-r", cli_repo, "key", "remove", "\\xff\\xfeJUNK").code == 0
    assert sorted(os.listdir(os.fsencode(folder))) == sorted(
        os.fsencode(k["id"]) for k in keys(run_cli, cli_repo)
    )
    assert run_cli("-r", cli_repo, "verify").code == 0
