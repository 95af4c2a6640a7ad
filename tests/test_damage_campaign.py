"""The damage campaign (issue 14): every object of a small fleet repository × every kind of
damage × the commands an operator runs, through the real CLI, on a local directory and on S3
(moto over TLS). tests/campaign/case.py says what each case runs and checks.

CI runs a seeded sample (every kind of object, every mutation); ``S3VAULT_CAMPAIGN=full``
(``make torture``) runs the whole cross product. ``S3VAULT_CAMPAIGN_SEED`` picks another
sample; ``S3VAULT_CAMPAIGN_REPORT=FILE`` appends the run's figures and every failure to FILE.
A run reports all its failures at once, each with the object, the damage, the command, its
exit code and the first lines of its stderr."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign.case import Case, environment
from tests.campaign.mutations import MUTATIONS
from tests.campaign.report import Run, render
from tests.campaign.results import CaseResult
from tests.campaign.runner import CliWorker, crash_site
from tests.campaign.stores import LocalStore, S3Store, Store
from tests.campaign.template import KINDS, RepoObject, Template, build
from tests.conftest import PASSWORD

FULL = os.environ.get("S3VAULT_CAMPAIGN") == "full"
SEED = int(os.environ.get("S3VAULT_CAMPAIGN_SEED", "14"))
# CI: how many (object, mutation) cases of each kind of object. Local: every mutation of
# every kind, on an object drawn at random; S3: one mutation per kind, in rotation (S3 cases
# cost about five times as much CPU, moto included). A case runs about 35 commands.
SAMPLE = {"local": 5, "s3": 1}


def sample(template: Template, store: str) -> list[tuple[RepoObject, str]]:
    """The cases of a run: all of them (full), or a seeded sample (see SAMPLE)."""
    cases = []
    for n, kind in enumerate(KINDS):
        objects = template.by_kind(kind)
        every = [(o, m) for o in objects for m in MUTATIONS]
        if FULL:
            cases += every
            continue
        rng = random.Random(f"{SEED}-{store}-{kind}")
        order = MUTATIONS[n % len(MUTATIONS) :] + MUTATIONS[: n % len(MUTATIONS)]
        cases += [(rng.choice(objects), m) for m in order[: SAMPLE[store]]]
    return cases


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliWorker]:
    w = CliWorker(tmp_path_factory.mktemp("campaign-runner") / "runner.log")
    yield w
    w.close()


def make_template(store: Store, base: Path, worker: CliWorker) -> tuple[Template, str]:
    url = store.template_url(base)
    env = {
        **environment(),
        **store.env(),
        "S3VAULT_PASSWORD": PASSWORD,
        "XDG_CACHE_HOME": str(base / "build-cache"),
    }
    template = build(
        store.name,
        base,
        url,
        env,
        worker,
        lambda: store.list_objects(url),
        store.init_repository,
    )
    return template, url


def run_campaign(store: Store, template: Template, url: str, worker: CliWorker, tmp: Path) -> None:
    cases = sample(template, store.name)
    total = CaseResult()
    start = time.monotonic()
    for n, (obj, mutation) in enumerate(cases):
        case = Case(
            template=template,
            template_url=url,
            store=store,
            obj=obj,
            mutation=mutation,
            seed=SEED * 1000 + n,
            workdir=tmp / f"case-{n}",
            worker=worker,
            base_env=environment(),
        )
        total.add(case.run())
    run = Run(store.name, template, len(cases), time.monotonic() - start, total)
    text = render([run], "full" if FULL else f"sample, seed {SEED}")
    (tmp / "campaign-report.txt").write_text(text)
    if os.environ.get("S3VAULT_CAMPAIGN_REPORT"):
        with open(os.environ["S3VAULT_CAMPAIGN_REPORT"], "a") as out:
            out.write(text + "\n\n")
    print(text)
    assert not total.failures, text


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600 if FULL else 900)
def test_damage_campaign_local(
    tmp_path_factory: pytest.TempPathFactory, worker: CliWorker, tmp_path: Path
) -> None:
    store = LocalStore()
    template, url = make_template(store, tmp_path_factory.mktemp("campaign-local"), worker)
    run_campaign(store, template, url, worker, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600 if FULL else 900)
def test_damage_campaign_s3(
    s3_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    worker: CliWorker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="werkzeug")  # not a line per request
    store = S3Store(s3_server)
    template, url = make_template(store, tmp_path_factory.mktemp("campaign-s3"), worker)
    run_campaign(store, template, url, worker, tmp_path)


def test_a_command_the_runner_child_dies_on_runs_again_as_its_own_process(
    tmp_path: Path,
) -> None:
    """The campaign's long-lived child dies (here killed at a crash point) while it runs a
    command: the command runs again as its own process of the console script, whose outcome
    counts (killed at the same point: -9, the signal named), the child's death rides along
    for the report, and the next command gets a fresh child."""
    worker = CliWorker(tmp_path / "runner.log")
    env = {**environment(), "S3VAULT_PASSWORD": PASSWORD, "XDG_CACHE_HOME": str(tmp_path / "c")}
    repo = ["-r", str(tmp_path / "repo")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(50_000))
    try:
        assert worker.run([*repo, "init", "--kdf-cost", "minimum"], env=env, cwd=tmp_path).code == 0
        crash = {**env, "S3VAULT_TEST_CRASH_AT": "pack-stored"}
        done = worker.run([*repo, "backup", str(src)], env=crash, cwd=tmp_path)
        assert done.runner_crash.startswith("the child died with -9"), done
        assert crash_site(done.runner_crash).startswith("the child died with -9 at ")
        assert done.code == -9, done  # the rerun died at the same point
        assert "campaign runner: the process died with -9" in done.stderr
        again = worker.run([*repo, "backup", str(src)], env=env, cwd=tmp_path)
        assert (again.code, again.runner_crash) == (0, ""), again
    finally:
        worker.close()
