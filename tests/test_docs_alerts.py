"""docs/examples/alerts.yml under `promtool test rules` (issue 18), on the series real s3vault
runs wrote: each command runs through the real CLI with --metrics-file; the .prom file as it
stands after each run is what node_exporter would have served until the next run. Those
samples become the promtool test's input series, and the test says which alerts fire when.

promtool's clock starts at 0 (1970), so each run is placed at a time of the story below and
every timestamp a run wrote is moved with it (the time inside the run is kept). The story:

- day 2 (48 h): repository A is created and backed up;
- day 3 (72 h): A is backed up again (it grew), a restore drill passes, A is pruned; a backup
  and a drill of B fail (B is not a repository); A's data is damaged and verify finds it;
  a second host with A's backup series goes silent an hour later.

The shipped limits are for real fleets; the test lowers two of them, as a user sets theirs:
the RTO target (to 0: a tiny drill projects 0.0 s) and the growth per day.
promtool comes from Debian's `prometheus` package (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3vault.clock import SystemClock
from tests.conftest import RunCli, write_file

RULES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "alerts.yml"
STEP = 1800  # seconds between scrapes and between rule evaluations in the test (at one beat,
# so that the 5-minute lookback always finds the last scrape: node_exporter is scraped far
# more often, which costs promtool minutes for nothing here)
HOUR = 3600
END = 72 * HOUR + 9 * 86400  # the series run until here
LOWERED = {"> 4 * 3600": ">= 0", "> 50 * 1024 ^ 3": "> 65536"}
_SAMPLE = re.compile(r"^(s3vault_\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, tuple[tuple[str, str], ...]]  # (metric, labels)


@dataclass(frozen=True)
class Run:
    at: int  # the story's time (seconds)
    started: float  # real time
    ended: float
    samples: dict[Key, float]


def read_prom(path: Path) -> dict[Key, float]:
    """The samples of a textfile, without empty labels (Prometheus drops them)."""
    out: dict[Key, float] = {}
    for line in path.read_text().splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = tuple(sorted((k, v) for k, v in _LABEL.findall(match.group(2)) if v))
            out[(match.group(1), labels)] = float(match.group(3))
    return out


def story_time(value: float, runs: list[Run]) -> float:
    """A timestamp a run wrote, placed at that run's time of the story (0 stays 0)."""
    if value == 0:
        return 0.0
    for run in runs:
        if run.started <= value <= run.ended:  # the run's clock is this machine's
            return run.at + max(0.0, value - run.started)
    msg = f"timestamp {value} was written by no run"
    raise AssertionError(msg)


def series_values(key: Key, runs: list[Run], until: int = END) -> str:
    """promtool's expanding notation: the value the file held at each scrape, ``_`` before
    the first run that wrote it."""
    values: list[str] = []
    for step in range(until // STEP + 1):
        now = step * STEP
        held = [r for r in runs if r.at <= now and key in r.samples]
        if not held:
            values.append("_")
            continue
        value = held[-1].samples[key]
        if key[0].endswith("_timestamp_seconds"):
            value = story_time(value, runs)
        values.append(repr(value))
    out, n = [], 0
    while n < len(values):  # run-length: "v+0xK" repeats v K more times
        m = n
        while m + 1 < len(values) and values[m + 1] == values[n]:
            m += 1
        # "_xK" is K missing values, "v+0xK" is v and K more
        out.append(f"_x{m - n + 1}" if values[n] == "_" else f"{values[n]}+0x{m - n}")
        n = m + 1
    return " ".join(out)


def selector(key: Key) -> str:
    return key[0] + "{" + ",".join(f'{k}="{v}"' for k, v in key[1]) + "}"


def rules_of(text: str) -> dict[str, dict[str, Any]]:
    """Alert name → its labels and annotations (read from the YAML by lines: no yaml package)."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- alert:"):
            current = {"labels": {}, "annotations": {}}
            out[stripped.split(":", 1)[1].strip()] = current
        elif stripped in ("labels:", "annotations:"):
            section = stripped[:-1]
        elif current and section and re.match(r"^ {10}\w+: ", line):
            name, value = stripped.split(": ", 1)
            current[section][name] = json.loads(value) if value.startswith('"') else value
        elif re.match(r"^ {8}\w", line):
            section = ""
    return out


def render(template: str, labels: dict[str, str]) -> str:
    """The rules' annotations use ``{{ $labels.NAME }}`` only."""
    assert "{{" not in re.sub(r"\{\{ \$labels\.\w+ \}\}", "", template), template
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def real_runs(tmp_path: Path, run_cli: RunCli) -> list[Run]:
    """The story's commands, each with the file as it stood after it."""
    metrics = tmp_path / "textfile" / "s3vault.prom"
    a, b, c, src = tmp_path / "A", tmp_path / "B", tmp_path / "C", tmp_path / "src"
    write_file(src / "first.bin", os.urandom(20_000))
    runs: list[Run] = []

    def run(at: int, code: int, *args: str) -> None:
        started = SystemClock().now().timestamp()
        done = run_cli("--metrics-file", str(metrics), "-q", *args)
        assert done.code == code, (args, done.stderr)
        runs.append(Run(at, started, SystemClock().now().timestamp(), read_prom(metrics)))

    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    run(48 * HOUR, 0, "-r", str(a), *init)
    run(48 * HOUR + 60, 0, "-r", str(a), "backup", str(src))
    write_file(src / "second.bin", os.urandom(200_000))  # the day's growth
    run(72 * HOUR, 0, "-r", str(a), "backup", str(src))
    # a coverage run that proves one pack of several: part of A stays unproven (before the
    # drill, whose proofs would cover it all; the figure is the coverage run's until the next)
    run(72 * HOUR + 30, 0, "-r", str(a), "verify", "--coverage", "30d", "--budget", "1K")
    run(72 * HOUR + 60, 0, "-r", str(a), "restore-test")
    run(72 * HOUR + 120, 0, "-r", str(a), "prune")
    run(72 * HOUR + 180, 10, "-r", str(b), "backup", str(src))
    # a host whose /srv is not mounted: its snapshot lacks it, exit 3, every night
    run(72 * HOUR + 200, 0, "-r", str(c), *init)
    run(72 * HOUR + 210, 3, "-r", str(c), "backup", str(src), str(tmp_path / "srv-not-mounted"))
    run(72 * HOUR + 240, 10, "-r", str(b), "restore-test")
    pack = sorted(p for p in (a / "data").rglob("*") if p.is_file())[0]
    damaged = bytearray(pack.read_bytes())
    damaged[len(damaged) // 3] ^= 0xFF
    pack.write_bytes(bytes(damaged))
    run(72 * HOUR + 300, 13, "-r", str(a), "verify", "--read-data")
    return runs


def with_labels(key: Key, **changes: str) -> Key:
    return (key[0], tuple(sorted({**dict(key[1]), **changes}.items())))


def test_alert_rules_fire_on_the_series_real_runs_wrote(tmp_path: Path, run_cli: RunCli) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    runs = real_runs(tmp_path, run_cli)
    final = runs[-1].samples
    host = socket.gethostname()
    a, b, c = str(tmp_path / "A"), str(tmp_path / "B"), str(tmp_path / "C")

    def key(metric: str, command: str, repository: str) -> Key:
        return (
            f"s3vault_{metric}",
            (("command", command), ("host", host), ("repository", repository)),
        )

    for wanted in (
        key("repository_bytes", "backup", a),
        key("last_prune_timestamp_seconds", "prune", a),
        key("restore_test_passed", "restore-test", b),  # the failed drill's 0
        key("verify_problems", "verify", a),
    ):
        assert wanted in final, wanted
    assert final[key("restore_test_passed", "restore-test", b)] == 0.0
    assert final[key("restore_test_projected_rto_seconds", "restore-test", a)] >= 0
    grown = [r.samples[key("repository_bytes", "backup", a)] for r in runs[1:3]]
    assert grown[1] - grown[0] > 65536  # the second backup grew A beyond the lowered limit

    silent = with_labels(key("last_success_timestamp_seconds", "backup", a), host="silent-host")
    series = [
        {"series": selector(k), "values": series_values(k, runs)} for k in sorted(final)
    ] + [  # a second host whose series stop an hour after its backup (it went dark)
        {
            "series": selector(silent),
            "values": series_values(
                key("last_success_timestamp_seconds", "backup", a), runs, 73 * HOUR
            ),
        }
    ]
    text = RULES.read_text()
    for shipped, lowered in LOWERED.items():
        assert text.count(shipped) == 1, shipped
        text = text.replace(shipped, lowered)
    rules = rules_of(text)
    assert len(rules) == 9
    (tmp_path / "alerts.yml").write_text(text)

    def fired(name: str, *label_sets: dict[str, str]) -> dict[str, Any]:
        rule = rules[name]
        return {
            "alertname": name,
            "exp_alerts": [
                {
                    "exp_labels": {**labels, **rule["labels"]},
                    "exp_annotations": {
                        k: render(v, labels) for k, v in rule["annotations"].items()
                    },
                }
                for labels in label_sets
            ],
        }

    def on(metric: str, command: str, repository: str, **extra: str) -> dict[str, str]:
        return {**dict(with_labels(key(metric, command, repository), **extra)[1])}

    always = {
        "S3vaultBackupFailed": [on("exit_code", "backup", b)],
        "S3vaultBackupPartial": [on("exit_code", "backup", c)],  # C's /srv was not mounted
        "S3vaultRestoreTestFailed": [on("x", "restore-test", b)],
        "S3vaultVerifyDamage": [on("x", "verify", a)],
        "S3vaultRestoreTestSlow": [on("x", "restore-test", a)],  # with the lowered target
    }
    expected: dict[int, dict[str, list[dict[str, str]]]] = {
        73 * HOUR: {
            **always,
            "S3vaultBackupMissed": [on("x", "backup", b)],  # never succeeded
            "S3vaultRepositoryGrowth": [{"repository": a}],
        },
        (72 + 27) * HOUR: {  # A's host and the silent one: 27 h since their last success
            **always,
            "S3vaultBackupMissed": [
                on("x", "backup", a),
                on("x", "backup", a, host="silent-host"),
                on("x", "backup", b),
                on("x", "backup", c),
            ],
        },
        72 * HOUR + 8 * 86400: {  # 8 days: no prune of A since day 3, none of B ever
            **always,
            "S3vaultBackupMissed": [
                on("x", "backup", a),
                on("x", "backup", b),
                on("x", "backup", c),
            ],
            "S3vaultPruneOverdue": [{"repository": a}, {"repository": b}, {"repository": c}],
            "S3vaultVerifyCoverageBehind": [on("x", "verify", a)],  # unproven for 2 days
        },
    }
    tests = [
        {"eval_time": f"{at}s", **fired(name, *sorted(alerts.get(name, []), key=str))}
        for at, alerts in expected.items()
        for name in rules
    ]
    spec = {
        "rule_files": [str(tmp_path / "alerts.yml")],
        "evaluation_interval": f"{STEP}s",
        "tests": [{"interval": f"{STEP}s", "input_series": series, "alert_rule_test": tests}],
    }
    (tmp_path / "alerts_test.yml").write_text(json.dumps(spec, indent=1))
    done = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / "alerts_test.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
