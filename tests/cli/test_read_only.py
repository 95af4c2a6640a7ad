"""A repository this host may only read (issue 14, defect 5): a disaster-recovery copy on a
read-only mount, a directory this user may not write, an S3 credential that may only read.

Every command that only reads works and ends with its own exit code, with at most one warning
line saying what could not be written (the audit record, the drill record, the cache) and why;
no traceback, no ``internal error``. Every command that writes fails with one line naming the
object and the refusal, exits 1, and leaves the store as it was.

Three ways to make a store read-only, each a parameter of ``store``:
- ``mount``: a read-only bind mount of the repository (EROFS); needs root and the right to
  mount, skipped (with the reason) where the kernel refuses;
- ``unprivileged``: the repository owned by root, readable by all, and the CLI run as
  ``nobody`` through ``setpriv`` (EACCES); run as a user that is not root, the repository is
  made read-only with ``chmod`` for that user instead, so this variant needs no privilege;
- ``s3``: the moto server enforcing IAM, and an access key whose policy allows only
  ``s3:Get*`` and ``s3:List*`` (403 AccessDenied on every write), as AWS answers such a key.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3vault import BackupOptions, InitOptions, RepoOptions, backup, init, open_repository
from s3vault.cloud.iam import policy as role_policy
from tests.cli.test_s3 import s3_env
from tests.cliserver import CliServer
from tests.conftest import PASSWORD, S3VAULT, TEST_SETTINGS, CliRun, RunCli, write_file
from tests.iamserver import moto_names
from tests.readonly import mount_read_only, unmount
from tests.trees import snapshot_tree

NOBODY = 65534
READ_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}],
}


@dataclass
class ReadOnlyStore:
    """A repository with two snapshots of ``source``, and a CLI that may only read it."""

    url: str  # the repository, as the reader sees it
    empty_url: str  # a location the reader may not write (for init)
    run: Callable[..., CliRun]  # the CLI as the reader
    scratch: Path  # a directory the reader may write (restore targets, password files)
    source: Path  # what the snapshots hold
    refusal: str  # the words the refusal is told in
    listing: Callable[[], list[str]]  # every object or file of the store, with sizes
    unwritable_dir: Callable[[], Path] | None = None  # a local directory the reader may not write
    cleanup: list[Callable[[], object]] = field(default_factory=list)


def _make_source(root: Path) -> Path:
    write_file(root / "a.txt", b"hello\n" * 100)
    write_file(root / "sub" / "b.bin", os.urandom(200_000))
    return root


def _fill(url: str, source: Path, cache: Path) -> None:
    """init and two snapshots, as the host that may write (in this process: fast)."""
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=cache)
    init(options, InitOptions(settings=TEST_SETTINGS))
    backup(open_repository(options), BackupOptions(paths=(str(source),)))
    (source / "a.txt").write_bytes(b"changed\n")
    backup(open_repository(options), BackupOptions(paths=(str(source),)))


def _files(root: Path) -> list[str]:
    """Every file and directory under root (temporaries included), with sizes."""
    return sorted(
        f"{p.relative_to(root)} {p.stat().st_size if p.is_file() else 'dir'}"
        for p in root.rglob("*")
    )


def _mounted(tmp_path: Path, run_cli: RunCli) -> ReadOnlyStore:
    repo, ro = tmp_path / "repo", tmp_path / "ro"
    source = _make_source(tmp_path / "src")
    _fill(str(repo), source, tmp_path / "writer-cache")
    mounts: list[Path] = []

    def mount(source_dir: Path, target: Path) -> Path:
        reason = mount_read_only(source_dir, target)
        if reason is not None:
            pytest.skip(reason)
        mounts.append(target)
        return target

    mount(repo, ro)
    (tmp_path / "empty").mkdir()
    mount(tmp_path / "empty", tmp_path / "empty-ro")
    counter = iter(range(100))

    def unwritable_dir() -> Path:
        n = next(counter)
        (tmp_path / f"blank{n}").mkdir()
        return mount(tmp_path / f"blank{n}", tmp_path / f"blank{n}-ro")

    store = ReadOnlyStore(
        url=str(ro),
        empty_url=str(tmp_path / "empty-ro"),
        run=run_cli,
        scratch=tmp_path / "scratch",
        source=source,
        refusal="read-only file system",
        listing=lambda: _files(repo),
        unwritable_dir=unwritable_dir,
    )
    store.scratch.mkdir()
    store.cleanup.append(lambda: [unmount(m) for m in mounts])
    return store


def _unprivileged(
    run_cli: RunCli, cli_env: dict[str, str], server: CliServer | None
) -> ReadOnlyStore:
    """The repository as a user who may read but not write it: nobody (run as root), or this
    user after chmod a-w (run as anyone else). The commands are forked from the fork server
    (as nobody: the child drops to it as setpriv would) or started through setpriv."""
    base = Path(tempfile.mkdtemp(prefix="s3vault-ro-"))
    base.chmod(0o755)  # nobody must reach what is inside
    repo, empty, scratch = base / "repo", base / "empty", base / "scratch"
    source = _make_source(base / "src")
    _fill(str(repo), source, base / "writer-cache")
    empty.mkdir()
    scratch.mkdir()
    as_root = os.geteuid() == 0
    cleanup: list[Callable[[], object]] = [lambda: shutil.rmtree(base, ignore_errors=True)]
    env = {**cli_env, "HOME": str(scratch), "XDG_CACHE_HOME": str(scratch / "cache")}
    if as_root:
        if shutil.which("setpriv") is None:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root without setpriv(1): no way to run as another user")
        subprocess.run(["chmod", "-R", "a+rX", str(base)], check=True)
        os.chown(scratch, NOBODY, NOBODY)
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        if server is None:
            done = subprocess.run(
                [*prefix, S3VAULT, "--version"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                shutil.rmtree(base, ignore_errors=True)
                pytest.skip(f"nobody cannot run {S3VAULT}: {done.stderr.strip()}")
    else:
        prefix = []
        subprocess.run(["chmod", "-R", "a-w", str(repo), str(empty)], check=True)
        cleanup.insert(0, lambda: subprocess.run(["chmod", "-R", "u+w", str(base)], check=False))

    def run(*args: str) -> CliRun:
        if server is not None:
            user = NOBODY if as_root else None
            done = server.run(list(args), env=env, cwd=str(scratch), timeout=120, user=user)
        else:
            done = subprocess.run(
                [*prefix, S3VAULT, *args],
                capture_output=True,
                env=env,
                cwd=scratch,
                timeout=120,
                check=False,
            )
        return CliRun(done.returncode, done.stdout.decode(), done.stderr.decode())

    counter = iter(range(100))

    def unwritable_dir() -> Path:
        path = base / f"blank{next(counter)}"
        path.mkdir()
        if not as_root:
            path.chmod(0o555)
        return path

    store = ReadOnlyStore(
        url=str(repo),
        empty_url=str(empty),
        run=run,
        scratch=scratch,
        source=source,
        refusal="permission denied",
        listing=lambda: _files(repo),
        unwritable_dir=unwritable_dir,
        cleanup=cleanup,
    )
    return store


def _s3_listing(endpoint: str) -> list[str]:
    from moto.core.authorization import disable_iam_authentication

    with disable_iam_authentication():
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        objects = s3.list_objects_v2(Bucket="backups").get("Contents", [])
        uploads = s3.list_multipart_uploads(Bucket="backups").get("Uploads", [])
    return sorted(f"{o['Key']} {o['Size']}" for o in objects) + [
        f"upload {u['Key']}" for u in uploads
    ]


def _read_only_credential(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    policy: dict[str, Any] = READ_ONLY_POLICY,
) -> ReadOnlyStore:
    """s3://backups/web1 and a CLI whose key has ``policy``, enforced by the moto server."""
    from moto.core.authorization import enable_iam_authentication

    endpoint = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_bucket")
    writer = s3_env(cli_env, endpoint)
    source = _make_source(tmp_path / "src")
    _fill("s3://backups/web1", source, tmp_path / "writer-cache")
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    iam.create_user(UserName="reader")
    # as AWS authorizes it (HeadBucket under s3:List*: the store's clock, a prune's dry run)
    moto_policy = moto_names(policy)
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(moto_policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = {
        **writer,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    enforcing = contextlib.ExitStack()
    enforcing.enter_context(enable_iam_authentication())

    def run(*args: str) -> CliRun:
        return run_cli(*args, env=reader)

    store = ReadOnlyStore(
        url="s3://backups/web1",
        empty_url="s3://backups/elsewhere",
        run=run,
        scratch=tmp_path / "scratch",
        source=source,
        refusal="access denied",
        listing=lambda: _s3_listing(endpoint),
    )
    store.scratch.mkdir()
    store.cleanup.append(enforcing.close)
    return store


def _made(
    kind: str, request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    if kind == "mount":
        made = _mounted(tmp_path, run_cli)
    elif kind == "unprivileged":
        made = _unprivileged(run_cli, cli_env, request.getfixturevalue("cli_server"))
    else:
        made = _read_only_credential(request, tmp_path, cli_env, run_cli)
    try:
        yield made
    finally:
        for step in made.cleanup:
            step()


@pytest.fixture(params=["mount", "unprivileged", "s3"])
def store(
    request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    """A repository this CLI may only read, made read-only in each of the three ways."""
    yield from _made(request.param, request, cli_env, run_cli)


@pytest.fixture(params=["mount", "unprivileged"])
def local_store(
    request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    """The same for the local ways only (beside a local cache directory)."""
    yield from _made(request.param, request, cli_env, run_cli)


def _sane(done: CliRun) -> None:
    """No traceback, no internal error, whatever the outcome."""
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text
    assert "internal error" not in text, text


def _warnings(done: CliRun) -> list[str]:
    """The stderr lines; each must be a warning."""
    lines = done.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), done.stderr
    return lines


# (arguments, what cannot be written: the records the command would store)
READING = [
    (("snapshots",), ()),
    (("ls", "latest"), ()),
    (("ls", "latest", "/", "--recursive"), ()),  # restic's DIR form
    (("find", "*.txt"), ()),
    (("diff", "latest~1", "latest"), ()),
    (("diff", "latest~1:/", "latest:/"), ()),  # SNAPSHOT:PATH
    (("find", "*.txt", "-O", "2000-01-01", "-N", "2999-01-01"), ()),
    (("find", "--blob", "0" * 64, "--show-pack-id"), ()),  # restic's find by id (a full
    (("find", "--tree", "f" * 64, "-l"), ()),  # id is searched without the index: no warning)
    (("--json", "diff", "latest~1", "latest"), ()),  # with restic's statistics
    (("verify",), ("the audit record",)),
    (("verify", "--read-data"), ("the verification ledger file", "the audit record")),
    # in worker processes, the attribution walk beside the read-back
    (("verify", "--read-data", "-j", "2"), ("the verification ledger file", "the audit record")),
    (("restore-test",), ("the verification ledger file", "the drill record", "the audit record")),
    (("restore-test", "--no-record"), ("the audit record",)),
    (("restore-test", "--history"), ()),
    (("cost",), ()),
    (("stats",), ()),
    (("fleet",), ()),
    (("key", "list"), ()),
    (("audit",), ()),
    # a look at what a prune would do, and a diagnosis, on a disaster-recovery copy (an attack
    # pass: both stopped at the file system's clock probe, which writes a file)
    (("prune", "--dry-run"), ("the maintenance lease",)),
    (("doctor",), ()),
]


# Each CLI run costs about half a second (an S3 one about a second). The unprivileged variant,
# which runs everywhere, runs every command; the others, where the store refuses the same way,
# run the commands that make requests of their own (cost and stats on S3) and those that would
# store records.
SAMPLE = {
    "unprivileged": {args[0] for args, _ in READING}
    | {"--json", "forget", "prune", "key", "repair"},
    "mount": {"verify", "restore-test", "forget", "prune", "doctor"},
    "s3": {
        "snapshots",
        "verify",
        "restore-test",
        "cost",
        "stats",
        "fleet",
        "forget",
        "prune",
        "key",
    },
}


def _variant(request: pytest.FixtureRequest) -> set[str]:
    return SAMPLE[request.node.callspec.params["store"]]


def test_reading_commands_work_with_one_warning_at_most(
    store: ReadOnlyStore, request: pytest.FixtureRequest
) -> None:
    target = store.scratch / "restored"
    done = store.run("-r", store.url, "restore", "latest", "--target", str(target))
    _sane(done)
    assert done.code == 0, done.stderr
    (warning,) = _warnings(done)
    assert warning.startswith("warning: the audit record was not written: "), warning
    assert store.refusal in warning, warning
    restored = target / str(store.source).lstrip("/")
    assert snapshot_tree(restored) == snapshot_tree(store.source)
    below = store.scratch / "below"  # SNAPSHOT:PATH from a store that refuses every write
    done = store.run("-r", store.url, "restore", f"latest:{store.source}", "--target", str(below))
    _sane(done)
    assert done.code == 0, done.stderr
    assert len(_warnings(done)) == 1  # the audit record, as above
    assert snapshot_tree(below) == snapshot_tree(store.source)
    # restic 0.17's habits: a dry run writes no audit record (no warning), and --overwrite
    # never into the target restored above leaves every file as it is
    planned = store.scratch / "planned"
    done = store.run("-r", store.url, "restore", "latest", "--target", str(planned), "-n")
    _sane(done)
    assert done.code == 0 and _warnings(done) == [], done.stderr
    assert not planned.exists()
    done = store.run(
        "-r", store.url, "restore", "latest", "-t", str(target), "--overwrite", "never"
    )
    _sane(done)
    assert done.code == 0 and len(_warnings(done)) == 1, done.stderr  # the audit record
    assert snapshot_tree(restored) == snapshot_tree(store.source)
    sample = _variant(request)
    for args, unwritten in READING:
        if args[0] not in sample:
            continue
        done = store.run("-r", store.url, *args)
        _sane(done)
        assert done.code == 0, (args, done.stderr)
        warnings = _warnings(done)
        assert len(warnings) == (1 if unwritten else 0), (args, warnings)
        if unwritten:
            said = " and ".join(unwritten)
            assert warnings[0].startswith(f"warning: {said} ") and store.refusal in warnings[0], (
                args,
                warnings,
            )
    # with --json: the same warning as one JSON object on stdout, nothing on stderr
    for args in (("verify",), ("restore-test",)) if "--json" in sample else (("restore-test",),):
        done = store.run("--json", "-r", store.url, *args)
        _sane(done)
        assert done.code == 0, (args, done.stderr)
        assert done.stderr == ""
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert all("message_type" in line for line in lines), lines
        (warning_object,) = [line for line in lines if line["message_type"] == "warning"]
        assert "the audit record" in warning_object["item"]
        assert store.refusal in warning_object["message"]
    # a drill that fails keeps its exit code; its record is the warning
    done = store.run("-r", store.url, "restore-test", "--rpo-target", "0.001s")
    _sane(done)
    assert done.code == 13, done.stderr
    (warning,) = _warnings(done)
    assert warning.startswith("warning: the drill record and the audit record were not written")
    assert "result:        FAIL" in done.stdout


WRITING = [
    ("backup", "{source}"),
    ("forget", "--keep-last", "1"),
    ("forget", "--keep-last", "1", "--prune"),  # the lease first: refused before anything
    ("prune",),
    ("prune", "--grace", "0s", "--unsafe-no-backups-running"),  # a full disk's way out
    ("key", "add", "--new-password-file", "{password}"),
    ("repair", "packs", "{pack}", "--no-save"),
]


def test_writing_commands_fail_in_one_line_and_leave_nothing(
    store: ReadOnlyStore, request: pytest.FixtureRequest
) -> None:
    password = write_file(store.scratch / "new-password", b"another password\n")
    password.chmod(0o644)
    (store.source / "new.txt").write_bytes(os.urandom(50_000))  # something to upload
    before = store.listing()
    for template in WRITING:
        if template[0] != "backup" and template[0] not in _variant(request):
            continue
        pack = next(m[0] for line in before if (m := re.findall("data/../([0-9a-f]{64})", line)))
        args = [a.format(source=store.source, password=password, pack=pack) for a in template]
        done = store.run("-r", store.url, *args)
        _sane(done)
        assert done.code == 1, (args, done.stdout, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith("Fatal: ") and store.refusal in line, (args, line)
        assert store.listing() == before, args
    done = store.run("--json", "-r", store.url, "backup", str(store.source))
    _sane(done)
    assert done.code == 1
    error = json.loads(done.stderr)
    assert error["exit_code"] == 1 and store.refusal in error["message"]
    assert not [line for line in done.stdout.splitlines() if "warning" in line]
    assert store.listing() == before
    # init where nothing may be written
    done = store.run("-r", store.empty_url, "init", "--kdf-cost", "minimum")
    _sane(done)
    assert done.code == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("Fatal: ") and store.refusal in line, line
    assert store.listing() == before
    if not store.empty_url.startswith("s3://"):
        assert list(Path(store.empty_url).iterdir()) == []


def test_a_cache_that_cannot_be_written_costs_time_not_the_command(
    local_store: ReadOnlyStore,
) -> None:
    store = local_store
    assert store.unwritable_dir is not None
    cache = store.unwritable_dir()
    for args in (("snapshots",), ("ls", "latest")):
        done = store.run("--cache-dir", str(cache), "-r", store.url, *args)
        _sane(done)
        assert done.code == 0, (args, done.stderr)
        (warning,) = _warnings(done)
        assert warning.startswith("warning: the cache was not written ("), warning
        assert "--no-cache" in warning
    # the repository and the cache both refuse: still one line, naming both
    target = store.scratch / "restored"
    done = store.run(
        "--cache-dir", str(cache), "-r", store.url, "restore", "latest", "--target", str(target)
    )
    _sane(done)
    assert done.code == 0, done.stderr
    (warning,) = _warnings(done)
    assert "the audit record was not written" in warning and "the cache was not written" in warning
    assert snapshot_tree(target / str(store.source).lstrip("/")) == snapshot_tree(store.source)
    assert list(cache.iterdir()) == []


def test_a_key_that_may_write_audit_records_still_writes_them(
    request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """The roles of ``s3vault iam-policy``: the auditor key may store audit records but not
    drill records, the backup key may not delete. What the store refuses is said once; what
    it allows is still recorded (a refused deletion is what an audit log is for)."""
    auditor = _read_only_credential(
        request, tmp_path, cli_env, run_cli, role_policy("auditor", "backups", "web1")
    )
    try:
        done = auditor.run("-r", auditor.url, "restore-test")
        _sane(done)
        assert done.code == 0, done.stderr
        (warning,) = _warnings(done)
        assert warning.startswith("warning: the drill record was not written: put web1/drills/")
        assert "audit" not in warning
        backup_key = role_policy("backup", "backups", "web1")
        iam = boto3.client("iam", region_name="us-east-1")
        from moto.core.authorization import disable_iam_authentication

        with disable_iam_authentication():
            iam.put_user_policy(
                UserName="reader", PolicyName="p", PolicyDocument=json.dumps(backup_key)
            )
        done = auditor.run("-r", auditor.url, "forget", "--keep-last", "1")
        _sane(done)
        assert done.code == 1, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("Fatal: delete web1/snapshots/") and "access denied" in line
        log = auditor.run("--json", "-r", auditor.url, "audit")
        operations = [
            (r["operation"], r["exit_code"])
            for r in map(json.loads, log.stdout.splitlines())
            if r["message_type"] == "audit_record"
        ]
        assert ("restore-test", 0) in operations and ("forget", 1) in operations, operations
    finally:
        for step in auditor.cleanup:
            step()
