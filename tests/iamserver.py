"""A moto server that enforces IAM, for running s3vault under the policies it prints.

moto checks every request against the IAM policies of the user whose access key signed it
once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have been served. That setting is global to
a moto process, and the other moto servers of the test session (tests/s3server.py) run in
the test process and accept any key: this one therefore runs as a **process of its own**,
over TLS with the session's test CA (the ``s3_ca`` fixture), started with the count at 0.
Its first three requests are let through once (``/moto-api/reset-auth``) to create an
administrator; everything after, the administrator's own requests included, is checked.

Reuse: ``iam_server`` (session) hands out an ``IamServer``; ``IamServer.user(name, policy)``
creates a user with the policy attached and returns the AWS environment a CLI run needs
(``{**base_env(cache, password), **env}``, or on top of the ``cli_env`` fixture); ``moto_names``
translates a policy to the two action names moto checks differently from AWS. A bucket
policy is set with the admin client (``server.client("s3").put_bucket_policy``); moto applies
it to object requests with every statement's principal and conditions ignored. What moto
evaluates and what it does not: docs/security.md#iam-proven.
"""

from __future__ import annotations

import fnmatch
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bench import motoserver

from tests.s3server import free_port

REGION = "us-east-1"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class IamServer:
    """One IAM-enforcing moto server: its endpoint, CA bundle and administrator's keys."""

    endpoint: str
    ca_bundle: Path
    admin: dict[str, str] = field(default_factory=dict)

    def env(self, access_key: str, secret_key: str, token: str | None = None) -> dict[str, str]:
        """The AWS part of a CLI run's environment for these keys, against this server."""
        env = {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CA_BUNDLE": str(self.ca_bundle),
        }
        if token:
            env["AWS_SESSION_TOKEN"] = token
        return env

    def client(self, service: str, env: dict[str, str] | None = None) -> Any:
        """A boto3 client for ``service`` signed with ``env``'s keys (the admin's by default)."""
        import boto3

        env = env or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            verify=str(self.ca_bundle),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        )

    def user(self, name: str, policy: dict[str, Any]) -> dict[str, str]:
        """Create IAM user ``name`` with ``policy`` attached (a managed policy of the same
        name) and an access key; returns its environment (see ``env``)."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return self.env(key["AccessKeyId"], key["SecretAccessKey"])

    def role(self, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> str:
        """Create IAM role ``name`` with a trust policy and ``policy`` attached; its ARN."""
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        policy_arn = iam.create_policy(
            PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy)
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        return str(arn)

    def user_arn(self, name: str) -> str:
        return str(self.client("iam").get_user(UserName=name)["User"]["Arn"])

    def bucket(self, name: str, *, object_lock: bool = False) -> str:
        """Create bucket ``name`` (with Object Lock, which turns on versioning, if asked)."""
        self.client("s3").create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name


def moto_names(policy: dict[str, Any]) -> dict[str, Any]:
    """``policy`` translated to the two places where moto authorizes S3 requests
    differently from AWS; every other check moto makes uses AWS's action and resource.

    - HeadBucket: AWS authorizes it with s3:ListBucket; moto checks an action of its own,
      s3:HeadBucket, which AWS does not have (IAM's policy validator reports it as unknown),
      so no printed policy names it. Added wherever s3:ListBucket is allowed (by name or by a
      wildcard such as s3:List*).
    - DeleteObjects (one request, several keys): AWS checks s3:DeleteObject on each key;
      moto checks it once on the *bucket*, then each key against the bucket policy only.
      Allowed on the bucket wherever s3:DeleteObject is allowed on its objects; an explicit
      deny on the bucket ARN (the backup role's) still wins, as on AWS per key.
    - Conditions on s3:if-none-match (the put-only host's create-only deny): moto takes every
      condition but sts:ExternalId's as met, so that deny would refuse every PutObject, the
      host's creations too. Left out here; the printed document is checked instead
      (tests/cloud/test_iam_putonly.py).
    """
    statements = []
    buckets: set[str] = set()
    for printed in policy["Statement"]:
        if printed["Effect"] == "Deny" and "s3:if-none-match" in str(printed.get("Condition")):
            continue
        actions = _listed(printed.get("Action", []))
        allows = printed["Effect"] == "Allow"
        if allows and any(fnmatch.fnmatchcase("s3:ListBucket", a) for a in actions):
            printed = {**printed, "Action": [*actions, "s3:HeadBucket"]}  # noqa: PLW2901
        if allows and "s3:DeleteObject" in actions:
            resources = _listed(printed["Resource"])
            buckets |= {r.split("/", 1)[0] for r in resources if r.startswith("arn:aws:s3:::")}
        statements.append(printed)
    if buckets:  # moto authorizes DeleteObjects (several keys) as s3:DeleteObject on the bucket
        statements.append(
            {
                "Sid": "MotoDeleteObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject"],
                "Resource": sorted(buckets),
            }
        )
    return {**policy, "Statement": statements}


def base_env(cache: Path, password: str) -> dict[str, str]:
    """A CLI environment without the session's S3VAULT_ and AWS_ settings: the password and a
    private cache. Add a user's ``IamServer.user`` environment to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3VAULT_", "AWS_"))}
    env.update(S3VAULT_PASSWORD=password, XDG_CACHE_HOME=str(cache))
    return env


def _listed(element: str | list[str]) -> list[str]:
    return [element] if isinstance(element, str) else list(element)


def _post(url: str, data: bytes, context: ssl.SSLContext) -> None:
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(req, timeout=10, context=context).close()


def _wait_ready(endpoint: str, context: ssl.SSLContext, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(
                f"{endpoint}/moto-api/data.json", timeout=2, context=context
            ):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                msg = f"the IAM moto server did not start (exit {process.poll()})"
                raise RuntimeError(msg) from None
            time.sleep(0.05)  # waiting for a process to listen, not simulated time


@pytest.fixture(scope="session")
def iam_server(s3_ca: tuple[Path, Path, Path]) -> Iterator[IamServer]:
    """An https moto server in its own process that enforces IAM for every request."""
    bundle, chain, key = s3_ca
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    process = subprocess.Popen(
        [
            *motoserver.command(port),  # moto.server without Nagle's wait (bench/motoserver.py)
            *("-c", str(chain), "-k", str(key)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = IamServer(f"https://127.0.0.1:{port}", bundle)
        context = ssl.create_default_context(cafile=str(bundle))
        _wait_ready(server.endpoint, context, process)
        _post(f"{server.endpoint}/moto-api/reset-auth", b"3", context)  # the next 3 pass
        bootstrap = server.env("bootstrap", "bootstrap")
        iam = server.client("iam", bootstrap)
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY)
        )
        created = iam.create_access_key(UserName="admin")["AccessKey"]
        server.admin = server.env(created["AccessKeyId"], created["SecretAccessKey"])
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
