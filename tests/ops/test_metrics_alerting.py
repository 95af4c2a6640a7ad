"""The figures the alerts need in the Prometheus textfile (ops/metrics.py): the last prune's
time is kept by later runs of the same command that do not prune (forget without --prune),
and a restore-test that failed before it could judge reports a failed drill."""

from __future__ import annotations

from pathlib import Path

from s3vault.ops.metrics import MetricsTarget, publish, write_textfile


def samples(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1]
            out[name] = value
    return out


def test_the_last_prune_time_survives_a_run_that_does_not_prune(tmp_path: Path) -> None:
    path = tmp_path / "s3vault.prom"
    labels = {"command": "forget", "host": "h", "repository": "r"}
    pruned = {"bytes_freed": 10.0, "last_prune_timestamp_seconds": 1000.0}
    write_textfile(path, labels, pruned, exit_code=0, duration=1, now=1000)
    write_textfile(path, labels, {"snapshots_removed": 1.0}, exit_code=0, duration=1, now=2000)
    got = samples(path)
    assert got["s3vault_last_prune_timestamp_seconds"] == "1000.0"
    assert got["s3vault_last_run_timestamp_seconds"] == "2000.0"
    assert "s3vault_bytes_freed" not in got  # a figure of the earlier run only
    write_textfile(
        path,
        labels,
        {**pruned, "last_prune_timestamp_seconds": 3000.0},
        exit_code=0,
        duration=1,
        now=3000,
    )
    assert samples(path)["s3vault_last_prune_timestamp_seconds"] == "3000.0"


def test_a_restore_test_that_failed_early_is_a_failed_drill(tmp_path: Path) -> None:
    path = tmp_path / "s3vault.prom"
    for command, code, expected in (("restore-test", 12, "0.0"), ("backup", 12, None)):
        problems = publish(
            MetricsTarget(file=str(path)),
            labels={"command": command, "profile": "", "repository": "r"},
            values={},
            exit_code=code,
            duration=0.1,
            now=5.0,
        )
        assert problems == []
        lines = [x for x in path.read_text().splitlines() if f'command="{command}"' in x]
        passed = [x.rsplit(" ", 1)[1] for x in lines if x.startswith("s3vault_restore_test_passed")]
        assert passed == ([expected] if expected else [])


def test_a_verify_that_could_not_judge_keeps_the_damage_found_before(tmp_path: Path) -> None:
    """A verify that fails before it judges (a wrong password: exit 12) had removed the
    damage the one before found, and the shipped alert on s3vault_verify_problems resolved
    while the damage was there."""
    path = tmp_path / "s3vault.prom"
    labels = {"command": "verify", "host": "h", "repository": "r"}
    found = {"verify_problems": 1.0, "verify_coverage_ratio": 1.0}
    write_textfile(path, labels, found, exit_code=13, duration=1, now=1000)
    write_textfile(path, labels, {}, exit_code=12, duration=1, now=2000)
    got = samples(path)
    assert got["s3vault_verify_problems"] == "1.0"
    assert got["s3vault_exit_code"] == "12.0"
    write_textfile(path, labels, {"verify_problems": 0.0}, exit_code=0, duration=1, now=3000)
    assert samples(path)["s3vault_verify_problems"] == "0.0"  # a verify that judged: its own
