"""Shared fixtures: repositories on real directories, source trees, the real CLI entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from s3vault import InitOptions, RepoOptions, RepositorySettings, init, open_repository
from s3vault.repository.repository import Repository
from tests.botomodels import share_parsed_models
from tests.cliserver import CliServer
from tests.lowkdf_site import sitecustomize as lowkdf
from tests.timetravel import TimeTravel

# Cheap Argon2id in every process of the suite (tests/lowkdf_site/sitecustomize.py says why and
# how): this one, and through PYTHONPATH every process it starts. Not with fresh processes.
if os.environ.get("S3VAULT_TEST_FRESH_PROCESS") != "1":
    _SITE = str(Path(lowkdf.__file__).parent)
    if _SITE not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (_SITE, os.environ.get("PYTHONPATH", "")) if p
        )
    lowkdf.use_low_kdf()
share_parsed_models()  # botocore parses its service models once per worker (tests/botomodels.py)

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PASSWORD = "correct horse battery staple"
# Small packs and chunks so that small test trees still span several packs.
TEST_SETTINGS = RepositorySettings(kdf_cost="minimum", pack_size=4 << 20)
S3VAULT = str(Path(sys.executable).with_name("s3vault"))
# a command run as root without the capabilities that override file modes (setpriv(1)): root
# as a user that file modes apply to
WITHOUT_ROOT_OVERRIDE = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search,-fowner",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
]


@dataclass
class RepoHandle:
    """A local repository made for one test."""

    url: str
    cache: Path

    @property
    def options(self) -> RepoOptions:
        return RepoOptions(url=self.url, password=PASSWORD.encode(), cache_dir=self.cache)

    def open(self) -> Repository:
        return open_repository(self.options)


@pytest.fixture(autouse=True)
def _real_kdf_when_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``real_kdf`` runs in-process on the real Argon2id presets and floor."""
    if request.node.get_closest_marker("real_kdf") is None:
        yield
        return
    lowkdf.use_real_kdf()
    yield
    if os.environ.get("S3VAULT_TEST_FRESH_PROCESS") != "1":
        lowkdf.use_low_kdf()


@pytest.fixture
def local_repo(tmp_path: Path) -> RepoHandle:
    """An initialised repository in a temporary directory."""
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    return handle


@dataclass
class CliRun:
    """Result of one run of the real entry point."""

    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""  # stdout as written (dump's data)


RunCli = Callable[..., CliRun]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI runs: password, a private cache, no terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3VAULT_")}
    env.update(S3VAULT_PASSWORD=PASSWORD, XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    return env


@pytest.fixture(scope="session")
def cli_server() -> Iterator[CliServer | None]:
    """The fork server the CLI runs from (tests/cliserver.py), one per test process; None
    when ``S3VAULT_TEST_FRESH_PROCESS=1`` asks for a fresh console-script process per run."""
    if os.environ.get("S3VAULT_TEST_FRESH_PROCESS") == "1":
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="s3vault-cli-"))  # a short path for the socket
    server = CliServer(workdir)
    yield server
    server.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def time_travel(cli_server: CliServer | None) -> Iterator[TimeTravel]:
    """Simulated time for the moto S3 servers and the CLI processes (tests/timetravel.py)."""
    travel = TimeTravel(simulated=cli_server is not None)
    yield travel
    travel.close()


@pytest.fixture
def run_cli(
    cli_env: dict[str, str], cli_server: CliServer | None, time_travel: TimeTravel
) -> RunCli:
    """Run ``s3vault ARGS...`` as a process of its own: forked from the fork server (the
    real entry point, as the console script runs it), or the console script itself."""
    return cli_runner(cli_env, cli_server, time_travel)


def cli_runner(
    cli_env: dict[str, str], cli_server: CliServer | None, time_travel: TimeTravel | None = None
) -> RunCli:
    """``run_cli`` for an environment of the caller's (e.g. a module's fixture, which cannot
    use the per-test one); without ``time_travel`` the commands run at the real time."""

    def run(
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> CliRun:
        if cli_server is None:
            done = subprocess.run(
                [S3VAULT, *args],
                input=input,
                capture_output=True,
                env=env if env is not None else cli_env,
                timeout=timeout,
                check=False,
            )
        else:
            done = cli_server.run(
                list(args),
                input=input,
                env=env if env is not None else cli_env,
                timeout=timeout,
                clock_offset=time_travel.offset if time_travel else 0.0,
            )
        return CliRun(
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
            done.stdout,
        )

    return run


@pytest.fixture
def cli_repo(tmp_path: Path, run_cli: RunCli) -> str:
    """A repository created through ``s3vault init``."""
    url = str(tmp_path / "clirepo")
    done = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--pack-size", "4", "--no-recovery-key"
    )
    assert done.code == 0, done.stderr
    return url


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


from tests.iamserver import iam_server  # noqa: E402, F401
from tests.s3server import (  # noqa: E402, F401 - shared S3 fixtures
    s3_bucket,
    s3_bucket_http,
    s3_ca,
    s3_server,
    s3_server_http,
)
from tests.s3stores import s3_store  # noqa: E402, F401
from tests.swiftserver import swift_server  # noqa: E402, F401

# The longest tests (wall time with two workers), longest first: they start first, so that
# the suite does not end with one worker running the damage campaign while the other idles.
# Prefixes of node ids; every other test keeps its place after them.
LONGEST_FIRST = (
    "tests/test_damage_campaign.py::test_damage_campaign_s3",
    "tests/cli/test_concurrency.py::test_concurrent_backups_and_racing_pruners_lose_nothing[swift]",
    "tests/cli/test_kill_loop.py::",
    "tests/test_damage_campaign.py::",
    "tests/cli/test_concurrency.py::",
    "tests/cli/test_suspend.py::",
    "tests/cli/test_s3_faults.py::",
    "tests/cli/test_read_only.py::",
    "tests/cli/test_secrets.py::",
    "tests/restorer/test_deep_tree.py::",
    "tests/cli/test_deep_trees.py::",
    "tests/test_docs.py::test_page_examples_run",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the LONGEST_FIRST tests first, in that order (a stable sort: the rest keep theirs)."""

    def rank(item: pytest.Item) -> int:
        return next(
            (n for n, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
            len(LONGEST_FIRST),
        )

    items.sort(key=rank)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """pytest removes old temporary directories with shutil.rmtree, which recurses (Python
    3.11) and fails on the 10,000-level trees some tests build: let it recurse once the tests
    are over. Tests remove their deep trees themselves (tests/trees.remove_deep); this is the
    net. Set only now, so no test of s3vault's own walks runs with the higher limit."""
    del session, exitstatus
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))
