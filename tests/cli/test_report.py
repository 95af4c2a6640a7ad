"""fleet and report (issue 19): a repository with several hosts and three weeks of simulated
history, judged by ``fleet`` and drawn by ``report``, looked at in headless Chromium."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    DrillOptions,
    InitOptions,
    ManualClock,
    ObjectId,
    RepoOptions,
    Repository,
    SystemClock,
    backup,
    init,
    open_repository,
    restore_test,
)
from s3vault.format.drillfile import DrillFile
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotSummary
from s3vault.repository.snapshots import load_snapshot, save_snapshot
from tests.conftest import PASSWORD, S3VAULT, TEST_SETTINGS, RunCli, write_file

HOSTS = ("web1", "web2", "db1", "mail1")
ODD = 'odd<b>&"host'  # one backup only: a name the page must escape everywhere
DAYS = 21
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "bench-out" / "report.png"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three weeks of nightly backups of four hosts, ending now; db1 stopped four days ago,
    web2 added twenty times its usual last night; drills of web1 and db1 every three days (db1's
    RTO over its target once). One real backup
    per host (the trees), the nights after saved as snapshot files on simulated time."""
    base = tmp_path_factory.mktemp("fleet")
    url = str(base / "repo")
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=base / "cache")
    init(options, InitOptions(settings=TEST_SETTINGS))
    repo = open_repository(options)
    last_night = SystemClock().now() - timedelta(hours=6)
    clock = ManualClock(last_night - timedelta(days=DAYS - 1))
    firsts = {}
    for i, host in enumerate(HOSTS):
        src = write_file(base / host / "data.bin", os.urandom((1 << 20) * (i + 1))).parent
        done = backup(repo, BackupOptions(paths=(str(src),), host=host), clock=clock)
        assert done.snapshot_id is not None
        firsts[host] = load_snapshot(repo, done.snapshot_id)
    assert backup(repo, BackupOptions(paths=(str(src),), host=ODD), clock=clock).snapshot_id
    repo = open_repository(options, load_index=True)  # the drills read the trees
    latest: dict[str, ObjectId] = {}
    for day in range(1, DAYS):
        clock.advance(timedelta(days=1))
        for i, host in enumerate(HOSTS):
            if host == "db1" and day > DAYS - 5:
                continue
            added = (32 << 10) * (i + 1) * (20 if host == "web2" and day == DAYS - 1 else 1)
            start = clock.now() + timedelta(minutes=5 * i)
            end = start + timedelta(minutes=3 + i * 2 + day % 3)
            summary = SnapshotSummary(
                data_added=added,
                total_bytes_processed=(3 << 20) * (i + 1) + day * added,
                backup_start=start.isoformat(),
                backup_end=end.isoformat(),
            )
            latest[host] = save_snapshot(repo, replace(firsts[host], time=start, summary=summary))
        if day == 7:  # one real drill (it takes no simulated time: its projected RTO is 0),
            # from another host (no cache: it reads the tree packs from the store and proves them)
            drill = DrillOptions(host="web1", rto_target=timedelta(hours=4))
            cold = open_repository(replace(options, cache_dir=None), load_index=True)
            assert restore_test(cold, drill, clock=clock).record.passed
        if day % 3 == 0:  # and recorded ones, as drills of the real sizes would record
            for host, hours in (("web1", 2 + day % 2), ("db1", 3 + day % 4 * 0.6)):
                _record_drill(repo, latest[host], host, clock.now(), hours)
    return url


def _record_drill(repo: Repository, sid: ObjectId, host: str, when: datetime, hours: float) -> None:
    """A drill record of ``host``'s snapshot ``sid`` that projected ``hours`` against 4."""
    record = DrillFile(
        time=when,
        snapshot=sid.hex(),
        hostname=host,
        sample="all files",
        files_checked=1,
        bytes_checked=1 << 20,
        mismatches=0,
        errors=0,
        restore_seconds=1.0,
        verify_seconds=0.5,
        bytes_per_second=float(1 << 20),
        snapshot_bytes=1 << 30,
        projected_rto_seconds=hours * 3600,
        rto_target_seconds=4 * 3600,
        snapshot_age_seconds=600.0,
        rpo_target_seconds=None,
        passed=hours <= 4,
        failures=(),
    )
    repo.save_file(ObjectKind.DRILLS, record.encode())


def _fleet(run_cli: RunCli, url: str, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    done = run_cli("-r", url, "--json", "fleet", *args)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    rows = {m["host"]: m for m in lines if m["message_type"] == "host"}
    return done.code, rows


def test_fleet_lists_every_host_and_exits_13_when_one_is_overdue(
    history: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    code, rows = _fleet(run_cli, history, "--expect", "new1=1d")
    assert code == 13
    assert set(rows) == {*HOSTS, ODD, "new1"}
    assert (rows[ODD]["schedule"], rows[ODD]["status"]) == ("unknown", "unknown")
    assert rows["db1"]["status"] == "overdue"
    assert rows["new1"]["status"] == "never"
    web1 = rows["web1"]
    assert web1["status"] == "ok"
    assert web1["schedule"] == "inferred"
    assert web1["expected_seconds"] == 86400
    assert web1["drill_passed"] is True
    # web1's full drill (day 7) proved every pack its latest snapshot needs (the same tree);
    # no other host's packs were ever read back
    assert web1["last_proven"] is not None and web1["never_proven_bytes"] == 0
    proven = datetime.fromisoformat(str(web1["last_proven"]))
    assert not any("last proven" in w for w in web1["warnings"])  # type: ignore[union-attr]
    for host in ("web2", "db1", "mail1"):
        assert rows[host]["last_proven"] is None
        assert rows[host]["never_proven_bytes"] > (1 << 20)  # type: ignore[operator]
    assert any("20x its usual" in w for w in rows["web2"]["warnings"])  # type: ignore[union-attr]
    assert any("no restore drill" in w for w in rows["mail1"]["warnings"])  # type: ignore[union-attr]
    text = run_cli("-r", history, "fleet", env={**cli_env, "COLUMNS": "400"})
    assert text.code == 13
    assert "OVERDUE" in text.stdout
    assert "snapshot files read" in text.stdout
    assert f"{proven:%Y-%m-%d}" in text.stdout and "MiB unproven" in text.stdout, text.stdout


def test_fleet_without_proofs_leaves_last_proven_unset(history: str, run_cli: RunCli) -> None:
    done = run_cli("-r", history, "--json", "fleet", "--no-proofs")
    assert done.code == 13, done.stderr  # db1 is overdue all the same
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    rows = [m for m in lines if m["message_type"] == "host"]
    assert rows and all(r["last_proven"] is None for r in rows)
    assert all(r["never_proven_bytes"] is None for r in rows)
    assert lines[-1]["proofs"] is False and lines[-1]["ledger"] is True


def test_fleet_exits_0_when_no_host_is_overdue(history: str, run_cli: RunCli) -> None:
    code, rows = _fleet(run_cli, history, "--expect", "db1=7d")
    assert code == 0
    assert rows["db1"]["schedule"] == "expected"


def test_fleet_takes_expectations_from_a_config_profile(
    history: str, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[profiles.ops]\nrepository = "{history}"\n'
        '[profiles.ops.fleet]\nexpect = { "db*" = "7d", "web*" = "1d" }\n'
    )
    done = run_cli("--config", str(config), "-P", "ops", "--json", "fleet")
    assert done.code == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    db1 = next(r for r in rows if r.get("host") == "db1")
    assert (db1["schedule"], db1["expected_seconds"]) == ("expected", 7 * 86400)
    config.write_text('[profiles.ops]\n[profiles.ops.fleet]\nexpect = { "db1" = "soon" }\n')
    done = run_cli("-r", history, "--config", str(config), "-P", "ops", "fleet")
    assert done.code == 2
    assert "'soon' is not an interval" in done.stderr


def test_report_refuses_bad_input_in_one_line(
    history: str, run_cli: RunCli, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "r.html"
    for args in (("--since", "0"), ("--html", str(missing)), ("--region", "moon-1")):
        html = () if args[0] == "--html" else ("--html", str(tmp_path / "r.html"))
        done = run_cli("-r", history, "report", *html, *args)
        assert done.code == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.glob("*.html")) and not missing.parent.exists()


def test_report_replaces_an_earlier_report_and_no_other_file(
    history: str, run_cli: RunCli, tmp_path: Path
) -> None:
    """``report --html FILE`` overwrote whatever FILE was: given the repository's config, it
    destroyed the repository (an attack pass, 2026-12-07). An earlier report is replaced."""
    page = tmp_path / "r.html"
    for _ in range(2):
        done = run_cli("-r", history, "report", "--html", str(page), "--since", "30d")
        assert done.code == 0, done.stderr
    config = Path(history) / "config"
    runbook = tmp_path / "runbook.html"  # names s3vault, but is no report of it
    runbook.write_text("<!DOCTYPE html>\n<title>Restoring with s3vault</title><p>notes</p>")
    for mine in (config, runbook):
        before = mine.read_bytes()
        refused = run_cli("-r", history, "report", "--html", str(mine), "--since", "30d")
        assert refused.code == 2 and "is not a report s3vault wrote" in refused.stderr
        assert mine.read_bytes() == before
    assert run_cli("-r", history, "snapshots").code == 0
    fifo = tmp_path / "page.fifo"  # a FIFO is written into, never read first (that hung)
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()))
    reader.start()
    done = run_cli("-r", history, "report", "--html", str(fifo), "--since", "30d", timeout=60)
    reader.join(60)
    assert done.code == 0, done.stderr
    assert read and read[0].startswith(b"<!DOCTYPE html>")


def test_report_to_standard_output_with_a_dash(
    history: str, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--html -`` is standard output, as ``-`` is for restic's and our other file arguments:
    it wrote a file named '-' in the working directory. The page is all stdout carries, with
    ``--json`` too."""
    monkeypatch.chdir(tmp_path)
    for extra in ((), ("--json",)):
        done = run_cli("-r", history, *extra, "report", "--html", "-", "--since", "30d")
        assert done.code == 0, done.stderr
        assert done.stdout.startswith("<!DOCTYPE html>"), done.stdout[:200]
        assert done.stdout.rstrip().endswith("</html>")
    assert not (tmp_path / "-").exists()
    done = run_cli("-r", history, "report", "--html", "./-", "--since", "30d")
    assert done.code == 0, done.stderr
    assert (tmp_path / "-").read_text().startswith("<!DOCTYPE html>")  # ./- is a file
    assert done.stdout.startswith("wrote ./-: ")


def test_report_and_cat_pack_to_a_full_disk_say_so(history: str, cli_env: dict[str, str]) -> None:
    """Binary output to standard output on a full disk: "cannot write to standard output",
    as for text, exit 1; it was an internal error (the raw buffer bypassed the rule)."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    pack = next(p for p in (Path(history) / "data").rglob("*") if p.is_file()).name
    for args in (["report", "--html", "-"], ["cat", "pack", pack]):
        with open("/dev/full", "wb") as full:
            done = subprocess.run(
                [S3VAULT, "-r", history, *args],
                env=cli_env,
                stdout=full,
                stderr=subprocess.PIPE,
                check=False,
            )
        assert done.returncode == 1, done.stderr
        assert done.stderr.decode().splitlines() == [
            "Fatal: cannot write to standard output: No space left on device"
        ], args


def test_fleet_refuses_a_bad_expectation(history: str, run_cli: RunCli) -> None:
    for bad in ("web1", "web1=soon", "web1=0"):
        done = run_cli("-r", history, "fleet", "--expect", bad)
        assert done.code == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert "--expect" in done.stderr


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


MARK = """<script>
window.addEventListener('load', () => {
  for (const el of document.querySelectorAll('figure.plot')) {
    const r = (el.querySelector('svg') || el.querySelector('.placeholder')).getBoundingClientRect();
    el.setAttribute('data-drawn', `${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  const fetched = performance.getEntriesByType('resource').map(e => e.name);
  document.body.setAttribute('data-fetched', fetched.join(' '));
  document.body.setAttribute('data-marked', '1');
});
</script>"""


def test_report_renders_in_chromium(history: str, run_cli: RunCli, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = run_cli("-r", history, "report", "--html", str(page), "--since", "30d")
    assert done.code == 0, done.stderr
    text = page.read_text()
    assert "<script" not in text  # self-contained and static
    assert 'href="http' not in text
    assert 'src="' not in text
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    marked = tmp_path / "marked.html"
    marked.write_text(text.replace("</body>", MARK + "</body>"))
    SCREENSHOT.parent.mkdir(exist_ok=True)
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # any fetch from the network fails
            "--window-size=1400,2400",
            f"--screenshot={SCREENSHOT}",
            "--dump-dom",
            marked.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    dom = run.stdout
    assert 'data-marked="1"' in dom
    assert 'data-fetched=""' in dom  # the page loaded nothing: it opens with no network
    for figure in ("sizes", "added", "durations", "rto", "coverage", "cost"):
        start = dom.index(f'id="{figure}"')
        tag = dom[dom.rindex("<figure", 0, start) : dom.index(">", start)]
        drawn = tag.split('data-drawn="', 1)[1].split('"', 1)[0]
        width, height = map(int, drawn.split("x"))
        assert width > 0 and height > 0, (figure, drawn)
    assert "no ledger yet" not in dom  # the drill's proofs draw the coverage plot
    assert html.escape(ODD) in text and "odd<b>" not in text
    assert dom.count("<tr class=") == len(HOSTS) + 1
    for host in HOSTS:
        assert f'data-host="{host}"' in dom
    assert SCREENSHOT.stat().st_size > 10_000


def test_report_without_the_extra_says_how_to_install_it(
    history: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "block"
    write_file(blocker / "pygal.py", b"raise ImportError('not installed')\n")
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(blocker), cli_env.get("PYTHONPATH", "")])}
    s3vault = str(Path(sys.executable).with_name("s3vault"))
    page = tmp_path / "r.html"
    done = subprocess.run(
        [s3vault, "-r", history, "report", "--html", str(page)],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "pip install 's3vault[report]'" in done.stderr
    assert not page.exists()


def test_fleet_and_report_of_an_empty_repository(
    cli_repo: str, run_cli: RunCli, tmp_path: Path
) -> None:
    done = run_cli("-r", cli_repo, "fleet")
    assert done.code == 0, done.stderr
    assert "no snapshots in this repository" in done.stdout
    page = tmp_path / "empty.html"
    done = run_cli("-r", cli_repo, "report", "--html", str(page))
    assert done.code == 0, done.stderr
    text = page.read_text()
    assert "no data in this period" in text
    assert "no ledger yet" in text
