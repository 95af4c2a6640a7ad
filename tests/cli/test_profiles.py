"""Config profiles, `run NAME`, --metrics-file and --cloudwatch-namespace (moto) through the
real CLI (issue 7): a profile
sets the repository, password source, paths, excludes, tags, retention, verify subset and
restore drill; `run` does the whole routine with hooks and exits with the worst code; every
command leaves Prometheus textfile metrics; flags and the environment beat the profile."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from s3vault.ops.profiles import load_profile, profile_names
from tests.cli.test_s3 import s3_env
from tests.conftest import PASSWORD, S3VAULT, RunCli, write_file


def setup(tmp_path: Path, extra: str = "") -> tuple[Path, dict[str, Path]]:
    where = {
        "repo": tmp_path / "repo",
        "src": tmp_path / "src",
        "metrics": tmp_path / "metrics" / "s3vault.prom",
        "hooks": tmp_path / "hooks.log",
        "pw": write_file(tmp_path / "pw", PASSWORD.encode() + b"\n"),
        "bad_pw": write_file(tmp_path / "bad", b"wrong\n"),
    }
    write_file(where["src"] / "keep.txt", b"data\n" * 100)
    write_file(where["src"] / "skip.log", b"noise\n")
    config = f"""
[profiles.base]
password_file = "{where["pw"]}"
excludes = ["*.log"]
tags = ["fleet"]

[profiles.base.metrics]
file = "{where["metrics"]}"

[profiles.web]
inherit = "base"
repository = "{where["repo"]}"
paths = ["{where["src"]}"]
tags = ["web"]

[profiles.web.retention]
keep_last = 2

[profiles.web.verify]
read_data_subset = "50%"

[profiles.web.restore_test]
sample = 1

[profiles.web.hooks]
before = "echo before >> {where["hooks"]}"
after = "echo after $S3VAULT_EXIT_CODE >> {where["hooks"]}"
on_failure = "echo failed $S3VAULT_EXIT_CODE >> {where["hooks"]}"

[profiles.broken]
inherit = "web"
password_file = "{where["bad_pw"]}"
{extra}
"""
    return write_file(tmp_path / "config.toml", config.encode()), where


def metric(text: str, name: str, command: str) -> float:
    match = re.search(rf'^s3vault_{name}\{{command="{command}",[^}}]*\}} (\S+)$', text, re.M)
    assert match, f"no {name} for {command} in:\n{text}"
    return float(match.group(1))


def test_run_does_the_profile_routine(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    config, where = setup(tmp_path)
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}  # from the profile
    cfg = ("--config", str(config))
    made = run_cli(*cfg, "-P", "web", "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env)
    assert made.code == 0, made.stderr
    for _ in range(3):
        done = run_cli(*cfg, "run", "web", env=env)
        assert done.code == 0, done.stdout + done.stderr
    assert "=== backup" in done.stdout
    assert f"=== restore-test --host {socket.gethostname()} --sample 1" in done.stdout
    listed = run_cli(*cfg, "-P", "web", "--json", "snapshots", env=env)
    snaps = json.loads(listed.stdout)
    assert len(snaps) == 2  # keep_last 2
    assert snaps[0]["tags"] == ["web"]  # a list in the child replaces the parent's
    files = run_cli(*cfg, "-P", "web", "ls", "latest", env=env).stdout
    assert "keep.txt" in files and "skip.log" not in files  # the profile's excludes
    assert where["hooks"].read_text().splitlines() == ["before", "after 0"] * 3
    text = where["metrics"].read_text()
    for command in ("backup", "forget", "verify", "restore-test", "run"):
        assert metric(text, "exit_code", command) == 0
        assert metric(text, "last_success_timestamp_seconds", command) > 0
    assert metric(text, "files_processed", "backup") == 1
    assert metric(text, "restore_test_passed", "restore-test") == 1
    assert metric(text, "verify_coverage_ratio", "verify") > 0
    assert 'profile="web"' in text and f'repository="{where["repo"]}"' in text
    assert not list(where["metrics"].parent.glob(".*tmp"))  # written atomically

    # A failing step: the worst code, the on_failure hook, and the failure in the metrics.
    success = metric(text, "last_success_timestamp_seconds", "backup")
    failed = run_cli(*cfg, "run", "broken", env=env)
    assert failed.code == 12, failed.stdout + failed.stderr
    # the backup failed: the routine stops there and says what it did not run
    assert "=== backup" in failed.stdout and "=== forget" not in failed.stdout
    assert "=== verify" not in failed.stdout and "=== restore-test" not in failed.stdout
    assert "backup exited 12: " in failed.stderr and "verify" in failed.stderr
    assert where["hooks"].read_text().splitlines()[-2:] == ["before", "failed 12"]
    text = where["metrics"].read_text()
    assert 'profile="broken"' in text
    assert re.search(r's3vault_exit_code\{command="backup",[^}]*profile="broken"[^}]*\} 12', text)
    assert metric(text, "last_success_timestamp_seconds", "backup") == success  # web's, kept


def test_run_json_keeps_what_hooks_print_off_stdout(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    loud = '[profiles.loud]\ninherit = "web"\n[profiles.loud.hooks]\nbefore = "echo said-before"'
    config, _ = setup(tmp_path, loud + '\nafter = "echo said-after"')
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    cfg = ("--config", str(config))
    assert run_cli(*cfg, "-P", "loud", "init", "--kdf-cost", "minimum", env=env).code == 0
    done = run_cli(*cfg, "--json", "run", "loud", env=env)
    assert done.code == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # every one JSON
    assert lines[-1]["message_type"] == "summary"
    assert "said-before" in done.stderr and "said-after" in done.stderr


def test_a_failing_final_hook_keeps_the_steps_exit_code(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    extra = (
        '[profiles.grumpy]\ninherit = "broken"\n[profiles.grumpy.hooks]\non_failure = "exit 9"\n'
        '[profiles.sour]\ninherit = "web"\n[profiles.sour.hooks]\nafter = "exit 5"'
    )
    config, _ = setup(tmp_path, extra)
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    cfg = ("--config", str(config))
    assert run_cli(*cfg, "-P", "web", "init", "--kdf-cost", "minimum", env=env).code == 0
    grumpy = run_cli(*cfg, "run", "grumpy", env=env)  # the backup's 12 (wrong password) stays
    assert grumpy.code == 12, grumpy.stdout + grumpy.stderr
    sour = run_cli(*cfg, "run", "sour", env=env)  # a run that succeeded, but its hook failed
    assert sour.code == 1 and "exited with status 5" in sour.stderr, sour.stdout + sour.stderr
    assert "run sour: steps exited [0, 0, 0, 0]; exit code 1" in sour.stdout


def started_run(
    config: Path, name: str, cli_env: dict[str, str], mark: Path
) -> subprocess.Popen[bytes]:
    """``s3vault run NAME`` as a process of its own (the console script: it is signalled),
    once its before hook has written ``mark``."""
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    proc = subprocess.Popen(
        [S3VAULT, "--config", str(config), "run", name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (mark.exists() and mark.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_a_stopped_run_stops_its_hook_and_waits_for_it(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """SIGTERM to run reaches the whole hook (its children too) and run ends after it: a
    hook's children were left running, and a step was killed without its grace."""
    pids = tmp_path / "pids"
    hook = f'before = "sleep 60 & echo $! > {pids}; wait"'
    config, _ = setup(tmp_path, f'[profiles.slow]\ninherit = "web"\n[profiles.slow.hooks]\n{hook}')
    proc = started_run(config, "slow", cli_env, pids)
    sleeper = int(pids.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    for _ in range(100):  # the group's SIGTERM ends sleep at once; reaped by init soon after
        try:
            os.kill(sleeper, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(sleeper, signal.SIGKILL)
        raise AssertionError("the hook's child outlived run")


@pytest.mark.slow
def test_a_stopped_run_waits_for_a_hook_that_takes_longer_than_its_grace(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A hook (or step) still running when run's own 10 s grace ran out outlived run, and
    run blamed "a request that does not end": run now waits longer than a step's grace."""
    done_file = tmp_path / "hook.done"
    started = tmp_path / "hook.started"
    # the trap first: a SIGTERM between the mark and the trap ended the hook (seen under load)
    hook = f"before = \"trap '' TERM; echo go > {started}; sleep 11; touch {done_file}\""
    config, _ = setup(
        tmp_path, f'[profiles.stubborn]\ninherit = "web"\n[profiles.stubborn.hooks]\n{hook}'
    )
    proc = started_run(config, "stubborn", cli_env, started)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert done_file.exists()  # run ended after its hook, not 10 s after the signal


def test_flags_and_environment_beat_the_profile(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    config, _ = setup(tmp_path)
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    cfg = ("--config", str(config))
    assert (
        run_cli(
            *cfg, "-P", "web", "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env
        ).code
        == 0
    )
    other = str(tmp_path / "elsewhere")
    assert run_cli(*cfg, "-P", "web", "-r", other, "snapshots", env=env).code == 10  # flag wins
    by_env = run_cli(*cfg, "-P", "web", "snapshots", env={**env, "S3VAULT_REPOSITORY": other})
    assert by_env.code == 10  # the environment wins
    # S3VAULT_PASSWORD (environment) beats the profile's wrong password file
    fixed = run_cli(*cfg, "-P", "broken", "snapshots", env={**env, "S3VAULT_PASSWORD": PASSWORD})
    assert fixed.code == 0, fixed.stderr
    assert run_cli(*cfg, "-P", "broken", "snapshots", env=env).code == 12
    # a child's password_command replaces its parent's password_file (it was "both say where
    # the password is", exit 2)
    child = tmp_path / "child.toml"
    child.write_text(
        config.read_text()
        + f'[profiles.child]\ninherit = "broken"\npassword_command = "cat {tmp_path / "pw"}"\n'
    )
    by_command = run_cli("--config", str(child), "-P", "child", "snapshots", env=env)
    assert by_command.code == 0, by_command.stderr
    # run NAME with another profile named by the environment: refused, naming the variable
    named = run_cli(*cfg, "run", "web", env={**env, "S3VAULT_PROFILE": "base"})
    assert named.code == 2 and "S3VAULT_PROFILE=base" in named.stderr, named.stderr
    # run passes the flags given to it on to every step (they were dropped: `-r OTHER run
    # web` backed up into the profile's repository, exit 0)
    moved = run_cli(*cfg, "-r", other, "run", "web", env=env)
    assert moved.code == 10 and "=== forget" not in moved.stdout, moved.stdout + moved.stderr
    flagged = run_cli(*cfg, "--password-file", str(tmp_path / "pw"), "run", "broken", env=env)
    assert flagged.code == 0, flagged.stdout + flagged.stderr
    by_name = run_cli(
        "snapshots", env={**env, "S3VAULT_CONFIG": str(config), "S3VAULT_PROFILE": "web"}
    )
    assert by_name.code == 0, by_name.stderr


def test_bad_profiles_are_refused_clearly(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    for extra, message in (
        ('password = "hunter2"', "inline is not allowed"),
        ('pathz = ["/srv"]', "unknown key 'pathz'"),
        ("[profiles.broken.retention]\nkeep_dayly = 3", "unknown keys in [retention]: keep_dayly"),
        ('[profiles.loop]\ninherit = "loop2"\n[profiles.loop2]\ninherit = "loop"', "loop"),
        # as the flags' ranges (100000000 connections hung the command building its pool)
        ("connections = 100000000", "connections must be from 1 to 256, not 100000000"),
        ("connections = 0", "connections must be from 1 to 256, not 0"),
        ("limit_upload = -5", "limit_upload must be from 0 to"),
        # the types of a table's keys (`prune = "false"` pruned; a list as a hook was an
        # internal error; `file = 5` wrote metrics to ./5)
        ('[profiles.broken.retention]\nprune = "false"', "retention.prune must be true or false"),
        ('[profiles.broken.hooks]\nbefore = ["echo", "x"]', "hooks.before must be a string"),
        ("[profiles.broken.metrics]\nfile = 5", "metrics.file must be a string"),
        ('[profiles.broken.restore_test]\nsample = "abc"', "sample must be an integer"),
        ("[profiles.broken.retention]\nkeep_tags = [1]", "keep_tags must be a list of strings"),
        ('password_command = "cat x"', "profile 'broken' sets password_command and password_file"),
        ('[profiles.broken.fleet]\nexpect = "1d"', "fleet.expect must be a table of strings"),
        ('[profiles.broken.fleet]\nexpect = {"*" = 5}', "fleet.expect must be a table of strings"),
    ):
        config, _ = setup(tmp_path, extra)
        name = "loop" if "loop" in extra else "broken"
        done = run_cli("--config", str(config), "-P", name, "snapshots")
        assert done.code == 2 and message in done.stderr, (extra, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
        assert "hunter2" not in done.stderr
    # the whole file is checked, not only the profile in use: a typo outside every profile,
    # an inline password in one not used (each was accepted, exit 0)
    for extra, message in (
        ('[profiles.idle]\npassword = "hunter2"', "profile 'idle': 'password' inline"),
        ('[profiles.idle]\npathz = ["/srv"]', "unknown key 'pathz'"),
        ('[profiles.idle]\ninherit = "gone"', "inherits 'gone', no profile"),
        ('[profiles.idle]\ninherit = "idle2"\n[profiles.idle2]\ninherit = "idle"', "in a loop"),
        ('[profiles]\nidle = "oops"', "profile 'idle' must be a table"),
    ):
        config, _ = setup(tmp_path, extra)
        done = run_cli("--config", str(config), "-P", "web", "snapshots")
        assert done.code == 2 and message in done.stderr, (extra, done.stderr)
        assert "hunter2" not in done.stderr
    config, _ = setup(tmp_path)
    top = config.read_text()
    config.write_text(f'metrics_file = "/var/lib/m.prom"\n{top}')
    done = run_cli("--config", str(config), "-P", "web", "snapshots")
    assert done.code == 2 and "unknown key 'metrics_file' at the top" in done.stderr
    config.write_text(top)
    missing = run_cli("--config", str(config), "-P", "nope", "snapshots")
    assert missing.code == 2 and "profiles: base, broken, web" in missing.stderr
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(config.read_bytes() + b"# caf\xe9\n")
    done = run_cli("--config", str(latin1), "-P", "web", "snapshots")  # was an internal error
    assert done.code == 2 and "is not UTF-8 text (line" in done.stderr, done.stderr
    absent = run_cli("--config", str(tmp_path / "none.toml"), "-P", "web", "snapshots")
    assert absent.code == 2 and "cannot read config file" in absent.stderr
    assert os.environ.get("S3VAULT_PROFILE") is None
    negative = run_cli("--config", str(config), "-P", "web", "--limit-upload", "-5", "snapshots")
    assert negative.code == 2 and "--limit-upload" in negative.stderr, negative.stderr
    # restic's spelling of no limit stays one
    none = run_cli("--config", str(config), "-P", "web", "--limit-upload", "0", "snapshots")
    assert none.code != 2, none.stderr


def test_run_refuses_a_table_its_steps_would_refuse_before_anything_runs(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Values of the right type that a step refuses were found only by that step, after the
    backup had run, in click's usage text naming a flag nobody gave."""
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    config, where = setup(tmp_path)
    cfg = ("--config", str(config))
    assert run_cli(*cfg, "-P", "web", "init", "--kdf-cost", "minimum", env=env).code == 0
    for table, says in (
        ("[profiles.t.restore_test]\nsample = 0", "restore-test step refuses"),
        ("[profiles.t.restore_test]\nsample_percent = 150", "restore-test step refuses"),
        ('[profiles.t.restore_test]\nrto_target = "soon"', "restore-test step refuses"),
        ('[profiles.t.verify]\nread_data_subset = "abc"', "[verify] read_data_subset"),
        ('[profiles.t.retention]\ngroup_by = "bogus"', "group_by: unknown --group-by key"),
        ("[profiles.t.retention]\nkeep_last = -1", "keep-last -1"),
    ):
        config.write_text(
            setup(tmp_path)[0].read_text() + f'[profiles.t]\ninherit = "web"\n{table}\n'
        )
        done = run_cli(*cfg, "run", "t", env=env)
        assert done.code == 2 and says in done.stderr and "profile 't'" in done.stderr, (
            table,
            done.stderr,
        )
        assert "=== backup" not in done.stdout, table  # refused before anything ran
    assert not where["hooks"].exists()  # not even the before hook


def test_a_zero_limit_given_beats_the_profiles_limit(tmp_path: Path) -> None:
    """``--limit-upload 0`` (no limit, as restic's) given with a profile that sets a limit:
    the flag's 0 was taken for "not given" and the profile's 500 KiB/s applied."""
    from s3vault.cli.context import CliContext
    from s3vault.cli.profile import apply_profile

    config = write_file(
        tmp_path / "c.toml", b"[profiles.p]\nlimit_upload = 500\nlimit_download = 700\n"
    )
    ctx = CliContext(limit_upload=0, profile_name="p", config_file=str(config))
    apply_profile(ctx, environment=False)
    assert (ctx.limit_upload, ctx.limit_download) == (0, 700)


def test_the_shipped_example_config_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "config.toml"
    names = profile_names(path)
    assert names == ["defaults", "web", "web-dr"]
    dr = load_profile("web-dr", path)
    assert dr.get("paths") == ["/srv", "/etc"] and dr.get("region") == "us-east-1"
    assert dr.table("retention") == {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}
    assert dr.table("restore_test")["rto_target"] == "4h"


INIT_ARGS = ("init", "--kdf-cost", "minimum", "--no-recovery-key")


def test_cloudwatch_metrics(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, *INIT_ARGS, env=env).code == 0
    write_file(tmp_path / "src" / "a.txt", b"x" * 5000)
    ns = ("--cloudwatch-namespace", "S3vault/Test")
    done = run_cli("-r", url, *ns, "backup", str(tmp_path / "src"), env=env)
    assert done.code == 0, done.stderr
    assert (
        run_cli("-r", url, *ns, "--password-file", "/nonexistent", "snapshots", env=env).code == 2
    )
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cw.list_metrics(Namespace="S3vault/Test")["Metrics"]
    names = {  # (the repository's figures are put under Repository alone too: no Command)
        (m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]}.get("Command"))
        for m in metrics
    }
    assert {
        ("success", "backup"),
        ("bytes_added", "backup"),
        ("files_processed", "backup"),
    } <= names
    assert ("exit_code", "snapshots") in names
    dims = next(m["Dimensions"] for m in metrics if m["MetricName"] == "exit_code")
    assert {d["Name"] for d in dims} == {"Command", "Host", "Profile", "Repository"}
    stats = cw.get_metric_statistics(
        Namespace="S3vault/Test",
        MetricName="exit_code",
        Dimensions=next(
            m["Dimensions"]
            for m in metrics
            if m["MetricName"] == "exit_code"
            and any(d["Value"] == "snapshots" for d in m["Dimensions"])
        ),
        StartTime=datetime(2020, 1, 1, tzinfo=UTC),
        EndTime=datetime(2100, 1, 1, tzinfo=UTC),
        Period=60,
        Statistics=["Maximum"],
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [2.0]


def test_run_with_its_output_on_a_full_disk_still_backs_up(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """`run web >> /full/log`: run printed its step headers before anything changed the
    repository, so a lost stdout ended it there (exit 1, no backup, no audit record)."""
    config, _ = setup(tmp_path)
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    cfg = ("--config", str(config))
    made = run_cli(*cfg, "-P", "web", "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env)
    assert made.code == 0, made.stderr
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [S3VAULT, *cfg, "run", "web"], env=env, stdout=full, stderr=subprocess.PIPE, check=False
        )
        as_json = subprocess.run(
            [S3VAULT, *cfg, "--json", "run", "web"],
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert as_json.returncode == 0, as_json.stderr
    # the lost report is said: once in text (the first header's write found it), by each
    # step with --json (steps are processes of their own; run writes no header then)
    assert done.stderr.count(b"standard output") == 1, done.stderr
    assert as_json.stderr.count(b"standard output") >= 1, as_json.stderr
    listed = run_cli(*cfg, "-P", "web", "--json", "snapshots", env=env)
    assert len(json.loads(listed.stdout)) == 2


def test_a_partial_backup_puts_partial_for_its_cloudwatch_alarm(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A backup that exits 3 (saved, something left out) counted as a success and nothing
    else in CloudWatch, so no alarm could tell a host that leaves files out every night
    (Prometheus alerts on its exit code). It puts ``partial`` 1, a whole backup 0: the
    ``backup-partial`` alarm of setup-alarms watches it."""
    env = s3_env(cli_env, s3_server)
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, *INIT_ARGS, env=env).code == 0
    write_file(tmp_path / "src" / "a.txt", b"x" * 5000)
    ns = ("-r", url, "--cloudwatch-namespace", "S3vault/Partial", "backup", "-q")
    assert run_cli(*ns, str(tmp_path / "src"), env=env).code == 0
    assert run_cli(*ns, str(tmp_path / "src"), str(tmp_path / "gone"), env=env).code == 3
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cw.list_metrics(Namespace="S3vault/Partial", MetricName="partial")["Metrics"]
    dims = {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in metrics}
    assert len(dims) == 1  # one series (moto lists it once per datum)
    metric = metrics[0]
    stats = cw.get_metric_statistics(
        Namespace="S3vault/Partial",
        MetricName="partial",
        Dimensions=metric["Dimensions"],
        StartTime=datetime(2020, 1, 1, tzinfo=UTC),
        EndTime=datetime(2100, 1, 1, tzinfo=UTC),
        Period=86400 * 365,
        Statistics=["Minimum", "Maximum", "SampleCount"],
    )
    points = stats["Datapoints"]  # (moto may split the year into several points)
    assert min(p["Minimum"] for p in points) == 0.0 and max(p["Maximum"] for p in points) == 1.0
    assert sum(p["SampleCount"] for p in points) == 2.0
