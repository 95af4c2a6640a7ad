"""setup-bucket and doctor against moto (issue 7): a bare bucket is reported item by item
with the fix; setup-bucket applies the list and doctor then finds nothing wrong; a lifecycle
rule that would delete repository objects is reported as wrong."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli

INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key")


def checks(run_cli: RunCli, url: str, env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    done = run_cli("-r", url, "--json", "doctor", env=env)
    found = {}
    for line in done.stdout.splitlines():
        obj = json.loads(line)
        found[obj["item"]] = obj
    return done.code, found


def test_doctor_and_setup_bucket(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/fleet"
    assert run_cli("-r", url, *INIT, env=env).code == 0
    code, found = checks(run_cli, url, env)
    assert code == 13
    assert found["versioning"]["state"] == "wrong" and found["versioning"]["fix"]
    assert found["public access block"]["state"] == "wrong"
    assert found["lifecycle: incomplete uploads"]["state"] == "warning"
    assert found["keys"]["state"] == "warning"  # one key file, no recovery key
    assert found["repository"]["state"] == "ok"
    # the store item re-runs the capability probe, whose race rounds may see another result
    # on a loaded machine (a warning, never wrong); the second doctor below says the same
    assert found["store"]["state"] in ("ok", "warning")

    done = run_cli(
        "-r", url, "setup-bucket", "--data-class", "STANDARD_IA", "--after-days", "30", env=env
    )
    assert done.code == 0, done.stderr
    assert "versioning enabled" in done.stdout and "all public access blocked" in done.stdout
    assert "bucket policy not written: name the maintenance role" in done.stdout
    assert run_cli("-r", url, "key", "add", "--recovery", env=env).code == 0
    code, found = checks(run_cli, url, env)
    assert code == 0, found
    # every item ok but the bucket policy's (not written) and MFA delete (only the root user
    # can set it); the store item re-runs the capability probe, whose race rounds may see
    # another result on a loaded machine (a warning, never wrong)
    warned = {i for i, c in found.items() if c["state"] != "ok"} - {"store"}
    assert warned == {
        "bucket policy: TLS only",
        "bucket policy: deletes",
        "bucket policy: encryption",
        "MFA delete",
    }, found
    assert {found[i]["state"] for i in warned} == {"warning"}
    assert found["store"]["state"] in ("ok", "warning")
    assert found["lifecycle: transitions"]["detail"] == "data packs only"
    s3 = boto3.client("s3", region_name="us-east-1")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]
    transition = next(r for r in rules if r.get("Transitions"))
    assert transition["Filter"]["Prefix"] == "fleet/data/"

    rules.append(
        {
            "ID": "cleanup",
            "Status": "Enabled",
            "Filter": {"Prefix": "fleet/"},
            "Expiration": {"Days": 90},
        }
    )
    s3.put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration={"Rules": rules})
    code, found = checks(run_cli, url, env)
    assert code == 13
    assert found["lifecycle: expiration"]["state"] == "wrong"
    assert "cleanup" in found["lifecycle: expiration"]["detail"]

    locked = run_cli("-r", "s3://made-by-s3vault/repo", "setup-bucket", "--object-lock", env=env)
    assert locked.code == 0, locked.stderr
    assert "created bucket made-by-s3vault with Object Lock" in locked.stdout
    lock = s3.get_object_lock_configuration(Bucket="made-by-s3vault")["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert run_cli("-r", str(tmp_path / "local"), "setup-bucket", env=env).code == 2


def test_doctor_of_a_missing_bucket_says_so_exit_10(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A bucket that does not exist: one line that says so, exit 10. doctor read each
    setting's NoSuchBucket as a setting never made ("WRONG versioning: never enabled",
    "MFA delete: allow s3:GetBucketVersioning"), exit 13, and no line said the bucket is missing
    (an attack pass)."""
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}-missing/fleet"
    for extra in ((), ("--bucket-only",)):
        done = run_cli("-r", url, "doctor", *extra, env=env)
        assert done.code == 10, done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            f"Fatal: doctor: the bucket {s3_bucket}-missing does not exist (create it with "
            "'s3vault setup-bucket', then run 's3vault init')"
        ]


def test_doctor_reaches_the_endpoint_a_restic_style_url_names(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """`-r s3:https://HOST/bucket/prefix`: the repository opened there, but doctor's bucket
    checks (and setup-bucket) went to boto3's own endpoint, AWS's (a review found it; here the
    environment's endpoint is a dead loopback port, so nothing leaves the machine)."""
    env = s3_env(cli_env, s3_server)
    url = f"s3:{s3_server}/{s3_bucket}/fleet"
    assert run_cli("-r", url, *INIT, env=env).code == 0
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # where boto3 would go without the URL's
    done = run_cli("-r", url, "--json", "doctor", "--bucket-only", env=env)
    assert done.code == 13, done.stderr  # the bucket's settings were read: versioning is off
    found = {c["item"]: c for c in map(json.loads, done.stdout.splitlines()) if "item" in c}
    assert found["versioning"]["state"] == "wrong", found
    missing = run_cli("-r", f"s3:{s3_server}/{s3_bucket}-gone/p", "doctor", env=env)
    assert missing.code == 10, missing.stderr


def test_doctor_without_an_answer_from_the_store_is_no_internal_error() -> None:
    """A HEAD that gets no answer (a connection refused, no credentials) says nothing of the
    bucket: the checks that follow say what they can read. require_bucket let botocore's
    error through as "internal error: EndpointConnectionError" (a review)."""
    import botocore.exceptions

    from s3vault.cloud.bucket import require_bucket

    class Unreachable:
        def head_bucket(self, **_: object) -> None:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    require_bucket(Unreachable(), "b1")  # returns: not "the bucket does not exist"
