"""The whole CLI against an S3 repository on a moto server (loopback only)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from tests.conftest import RunCli, write_file
from tests.s3server import free_port
from tests.s3stores import S3Store
from tests.trees import snapshot_tree


def s3_env(cli_env: dict[str, str], endpoint: str) -> dict[str, str]:
    env = {
        **cli_env,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    if "AWS_CA_BUNDLE" in os.environ:  # the test CA of the https moto server
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    return env


def test_round_trip_through_s3(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_store.env(cli_env)
    repo = ("-r", f"s3://{s3_store.bucket}/hosts/web1", *s3_store.cli_args)
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--pack-size", "4", env=env).code == 0
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(10 << 20))  # spans several 4 MiB packs
    for i in range(30):
        write_file(src / "etc" / f"f{i}.conf", f"setting = {i}\n".encode() * 40)
    os.symlink("etc", src / "link")
    first = run_cli(*repo, "backup", str(src), "--json", env=env)
    assert first.code == 0, first.stderr
    (src / "etc" / "f3.conf").write_bytes(b"changed\n")
    second = run_cli(*repo, "backup", str(src), "--json", env=env)
    assert second.code == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert (summary["files_changed"], summary["files_unmodified"]) == (1, 30)
    listing = run_cli(*repo, "ls", "latest", str(src), env=env)
    assert f"{src}/big.bin" in listing.stdout.splitlines()
    target = tmp_path / "t"
    done = run_cli(*repo, "restore", "latest", "-t", str(target), env=env)
    assert done.code == 0, done.stderr
    assert snapshot_tree(target / str(src).lstrip("/")) == snapshot_tree(src)
    assert run_cli(*repo, "verify", "--read-data", env=env).code == 0
    assert run_cli(*repo, "restore-test", "--no-disk", env=env).code == 0


def test_unreachable_store_exits_14_within_the_deadline(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    env = s3_env(cli_env, dead)
    start = time.monotonic()
    done = run_cli("-r", "s3://backups/repo", "--retry-deadline", "3", "snapshots", env=env)
    elapsed = time.monotonic() - start
    assert done.code == 14, done.stderr
    assert "storage unavailable" in done.stderr and "config" in done.stderr
    assert elapsed < 60


def test_a_store_that_never_answers_exits_14_within_the_deadline(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A store that takes connections and never answers (a stopped server: the kernel
    completes the handshake): `--retry-deadline 20` took 241 s, botocore's three tries of a
    60 s read timeout inside one of ours (an attack pass on moto, 2026-12-07)."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # never accepted: requests wait for an answer that never comes
        env = s3_env(cli_env, f"http://127.0.0.1:{hung.getsockname()[1]}")
        start = time.monotonic()
        argv = ("-r", "s3://backups/repo", "--retry-deadline", "8", "snapshots")
        done = run_cli(*argv, env=env, timeout=60)
        elapsed = time.monotonic() - start
    assert done.code == 14, done.stderr
    assert "storage unavailable" in done.stderr
    assert elapsed < 20, elapsed


def test_limit_upload_takes_at_least_the_time_it_implies(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "random.bin", os.urandom(6 << 20))
    start = time.monotonic()
    done = run_cli("-r", cli_repo, "--limit-upload", "2048", "backup", str(src), "--json")
    elapsed = time.monotonic() - start
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    sent = summary["requests"]["bytes_up"]
    assert sent >= 6 << 20
    assert elapsed >= (sent / (2048 * 1024)) - 1  # minus the one-second burst


def test_a_missing_bucket_is_no_repository_exit_10(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A repository URL whose bucket does not exist (a typo, a bucket not yet made): exit 10,
    "no repository", as for an empty prefix; it was exit 1 ("fatal"), and init said that
    uploads fail "with boto3's default checksums and with the compatibility dialect"."""
    env = s3_store.env(cli_env)
    repo = ("-r", f"s3://{s3_store.bucket}-typo/hosts/web1", *s3_store.cli_args)
    src = write_file(tmp_path / "src" / "a", b"a").parent
    for args in (["snapshots"], ["backup", str(src)], ["verify"], ["forget", "--keep-last", "1"]):
        done = run_cli(*repo, *args, env=env)
        assert done.code == 10, (args, done.stderr)
        [line] = done.stderr.splitlines()
        assert line.startswith(f"Fatal: no repository at s3://{s3_store.bucket}-typo/hosts/web1")
        assert line.endswith(
            ": its bucket does not exist (create it, e.g. with 's3vault setup-bucket', then "
            "run 's3vault init')"
        ), args
    made = run_cli(*repo, "init", "--kdf-cost", "minimum", env=env)
    assert made.code == 10, made.stderr
    assert made.stderr.splitlines() == [
        f"Fatal: the bucket {s3_store.bucket}-typo does not exist: create it first (s3vault "
        "setup-bucket makes one as docs/s3.md recommends), then run the command again"
    ]


def test_archived_packs_are_named_as_archived_never_as_damage_to_repair(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Packs stored with --s3-storage-class GLACIER: the backup said nothing, and verify
    --read-data and restore called them damage and advised `repair packs` and `repair
    snapshots`, which would drop intact data (an attack pass on moto, 2026-12-07)."""
    env = s3_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/cold")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli(*repo, *init, env=env).code == 0
    src = write_file(tmp_path / "src" / "f.bin", os.urandom(200_000)).parent
    done = run_cli(*repo, "--s3-storage-class", "glacier", "backup", str(src), env=env)
    assert done.code == 0, done.stderr
    assert "archives the data packs" in done.stderr, done.stderr
    verify = run_cli(*repo, "verify", "--read-data", "--json", env=env)
    assert verify.code == 13, verify.stdout
    findings = [json.loads(x) for x in verify.stdout.splitlines()]
    archived = [f for f in findings if f.get("kind") == "pack-archived"]
    assert archived, findings
    for finding in archived:
        message = finding["message"]
        assert "repair packs" not in message and "repair snapshots" not in message, message
    assert all("restored from its storage class" in f["message"] for f in archived)
    text = run_cli(*repo, "verify", "--read-data", env=env)
    assert "could not be read (nothing is known to be lost" in text.stdout + text.stderr
    assert "repository damaged" not in text.stdout + text.stderr  # its closing line too
    assert "    archived: " in text.stderr and "    lost: " not in text.stderr  # each path
    restore = run_cli(*repo, "restore", "latest", "-t", str(tmp_path / "t"), env=env)
    assert restore.code == 13, restore.stderr
    assert "restore those packs from the archive" in restore.stderr
    assert "repair snapshots" not in restore.stderr
    drill = run_cli(*repo, "restore-test", "--no-record", env=env)
    assert drill.code == 13, drill.stdout + drill.stderr
    assert "nothing is known to be lost" in drill.stdout and "damage found" not in drill.stdout


def test_prune_never_repacks_an_archived_pack(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A partly used GLACIER pack was chosen for repacking, and its read stopped prune at
    once (exit 1, nothing freed; an attack pass on moto, 2026-12-07): it is kept."""
    env = s3_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/cold", "--s3-storage-class", "GLACIER")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--pack-size", "4")
    assert run_cli(*repo, *init, env=env).code == 0
    src = tmp_path / "src"
    for n in range(6):
        write_file(src / f"f{n}", os.urandom(200_000))
    assert run_cli(*repo, "backup", str(src), env=env).code == 0
    for n in range(4):
        (src / f"f{n}").unlink()
    assert run_cli(*repo, "backup", str(src), env=env).code == 0
    assert run_cli(*repo, "forget", "--keep-last", "1", env=env).code == 0
    done = run_cli(*repo, "--json", "prune", "--max-unused", "0", env=env)
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["packs_repacked"] == 0
    # what they hold unused is said, not "0 B unused" (an attack pass, 2026-12-07)
    assert summary["archived_partly_packs"] >= 1
    assert summary["archived_unused_bytes"] >= 3 * 200_000, summary
    told = run_cli(*repo, "prune", "--dry-run", env=env)
    assert "partly used pack" in told.stdout and "restored from the archive" in told.stdout


def test_copy_passes_over_a_snapshot_whose_data_is_archived_and_copies_the_rest(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """The first archived pack stopped the whole copy (exit 1), nothing copied, not even the
    snapshots it could read (an attack pass on moto, 2026-12-07)."""
    env = s3_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/mixed")
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env).code == 0
    cold = write_file(tmp_path / "cold" / "a", os.urandom(300_000)).parent
    warm = write_file(tmp_path / "warm" / "z", os.urandom(50_000)).parent
    archived = ("--s3-storage-class", "DEEP_ARCHIVE", "backup", str(cold))
    assert run_cli(*repo, *archived, env=env).code == 0
    assert run_cli(*repo, "backup", str(warm), env=env).code == 0
    target = str(tmp_path / "local")
    assert run_cli("-r", target, "init", "--kdf-cost", "minimum", env=env).code == 0
    done = run_cli(*repo, "copy", "--to", target, env=env)
    assert done.code == 13, done.stderr  # as for a damaged snapshot: the others are copied
    assert "storage class archived" in done.stderr and "nothing is known to be lost" in done.stderr
    assert "damaged" not in done.stderr  # the summary had called it damage (an attack pass)
    copied = run_cli("-r", target, "--json", "snapshots", env=env)
    paths = [s["paths"] for s in json.loads(copied.stdout)]
    assert paths == [[str(warm)]], paths


def test_init_refuses_a_repository_under_another_ones_prefix(
    s3_server: str, s3_bucket: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """``…/bucket/repo/snapshots`` was taken for a snapshot of ``…/bucket/repo`` (an attack
    pass, 2026-12-07); a sibling prefix (``repo2``) is another repository."""
    env, bucket = s3_env(cli_env, s3_server), s3_bucket
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", f"s3://{bucket}/repo", *init, env=env).code == 0
    deep = "repo/" + "d/" * 300  # one client asks every level (it made one per level)
    for inner in ("repo/snapshots", "repo/a/b", deep.rstrip("/")):
        done = run_cli("-r", f"s3://{bucket}/{inner}", *init, env=env)
        assert done.code == 1, done.stderr
        assert f"is inside the repository at s3://{bucket}/repo:" in done.stderr
    assert run_cli("-r", f"s3://{bucket}/repo2", *init, env=env).code == 0
    assert run_cli("-r", f"s3://{bucket}/repo", "verify", env=env).code == 0


def test_unusable_aws_credentials_or_profile_are_named_not_an_internal_error(
    s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """An access key without its secret, and a profile that is not configured, ended in
    "internal error: PartialCredentialsError" / "ProfileNotFound" (an attack pass,
    2026-12-07)."""
    env = {
        **s3_env(cli_env, s3_server),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    repo = ("-r", "s3://backups/r1")
    partial = run_cli(*repo, "snapshots", env={**env, "AWS_SECRET_ACCESS_KEY": ""})
    assert partial.code == 1, partial.stderr
    [line] = partial.stderr.splitlines()
    assert "AWS credentials" in line and "AWS_SECRET_ACCESS_KEY" in line, line
    assert "internal error" not in line
    for given in (("--aws-profile", "nope"), ()):  # the option, or AWS_PROFILE's
        profile = run_cli(*repo, *given, "snapshots", env={**env, "AWS_PROFILE": "nope"})
        assert profile.code == 2, profile.stderr
        assert profile.stderr.splitlines() == [
            "Fatal: the AWS profile 'nope' is not configured (in ~/.aws/config or "
            "~/.aws/credentials): check --aws-profile or AWS_PROFILE"
        ]


def test_an_endpoint_that_is_no_s3_service_is_said_so(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A plain web server answers a bucket listing with 404 and no S3 error: it said
    "list x/keys/: not found", naming neither the endpoint nor the cause (an attack pass,
    2026-12-07)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        done = run_cli("-r", f"s3:{endpoint}/bkt/x", "snapshots", env=s3_env(cli_env, endpoint))
    finally:
        server.shutdown()
    assert done.code == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert "404 Not Found and no S3 error" in line and "S3 service" in line, line
