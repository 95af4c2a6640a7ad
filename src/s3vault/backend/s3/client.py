"""The way to one bucket: settings, the AWS session (AWS profile, assumed role), and the boto3 S3
client built from them (TLS verification, path style, checksum mode, pool size, timeouts).

With backend/s3/errors.py the only module that imports boto3/botocore for the S3 store (the
account administration modules build their own clients on ``aws_session``). Credentials,
AWS profiles, SSO and role chains are boto3's own. Every request goes through ``Connection.call``
so that it is counted and held to the congestion window (backend/s3/traffic.py).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session
import botocore.utils

from s3vault.backend.s3.errors import CREDENTIAL_ERRORS
from s3vault.backend.s3.traffic import Traffic
from s3vault.errors import BackendError, UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    """Where the bucket is and how to talk to it."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    aws_profile: str | None = None  # a named profile of ~/.aws/config
    path_style: bool = False
    checksum: str | None = None  # "when_required" | "when_supported" | None (boto3 default)
    verify_tls: bool | str | None = None  # False, or a CA bundle path; None: boto3's default
    connections: int = 8
    multipart_threshold: int = 64 * 1024 * 1024
    storage_class: str | None = None  # for data packs; metadata always STANDARD
    sse: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    bucket_owner: str | None = None  # sent as ExpectedBucketOwner on every request
    role_arn: str | None = None  # assume this role (credentials refresh before they expire)
    external_id: str | None = None
    max_parts: int = 10000  # the store's limit (a default Swift: 1,000)
    conditional_writes: bool = True  # send If-None-Match: * at all (False: HEAD, then PUT)
    atomic_create: bool = True  # ... and concurrent creates of one name have one winner
    compare_and_swap: bool = True  # If-Match on PutObject works
    retry_deadline: float = 300.0  # --retry-deadline: no one request waits past it (timeouts)

    def __repr__(self) -> str:
        return f"S3Settings(s3://{self.bucket}/{self.prefix}, endpoint={self.endpoint_url!r})"


BOTOCORE_TRIES = 4  # botocore's own tries of a request (its "3 retries"), inside one of ours
READ_TIMEOUT = 60.0  # seconds a response may keep a request waiting, at most
CONNECT_TIMEOUT = 10.0


def request_timeouts(deadline: float) -> tuple[float, float]:
    """(read, connect) timeouts of one request: botocore's tries of a request that hangs
    (a store that accepts connections and never answers) fit in the deadline together, so
    it holds: `--retry-deadline 20` against a stopped server took 241 s, botocore's tries of
    60 s each (an attack pass on moto, 2026-12-07). The default deadline (300 s) keeps 60 s
    and 10 s."""
    read = max(1.0, min(READ_TIMEOUT, deadline / BOTOCORE_TRIES))
    return read, min(CONNECT_TIMEOUT, read)


def aws_session(
    aws_profile: str | None, role_arn: str | None = None, external_id: str | None = None
) -> boto3.session.Session:
    """The boto3 session of a repository's AWS account (S3, KMS, CloudWatch, bucket set-up):
    an AWS profile from ~/.aws, and the role to assume with it, if any."""
    try:
        session = boto3.session.Session(profile_name=aws_profile)
    except botocore.exceptions.ProfileNotFound as exc:
        named = aws_profile or exc.kwargs.get("profile")  # AWS_PROFILE's, when not given
        msg = (
            f"the AWS profile {named!r} is not configured (in ~/.aws/config or "
            "~/.aws/credentials): check --aws-profile or AWS_PROFILE"
        )
        raise UsageError(msg) from None
    if role_arn:
        session = _assumed_role_session(session, role_arn, external_id)
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return session


def parse_timestamp(value: Any) -> datetime:
    """A response's timestamp, as botocore's own parser gives it, ISO 8601 first.

    Every object of a listing carries its LastModified as ISO 8601 (``2026-12-05T21:47:42.000Z``)
    and botocore parses each with dateutil: 65 µs here, so a listing of 10^5 packs spent 6.5 s
    of CPU on dates. ``datetime.fromisoformat`` takes 0.2 µs. Anything it does not read as an
    aware ISO 8601 time (the RFC 822 dates of HEAD and GET headers, epoch numbers) goes to
    botocore's parser, as before."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    result: datetime = botocore.utils.parse_timestamp(value)
    return result


def _assumed_role_session(
    base: boto3.session.Session, role_arn: str, external_id: str | None
) -> boto3.session.Session:
    """A session whose credentials come from STS AssumeRole on the base credentials and are
    refreshed by botocore before they expire (backups can outlive a role session)."""
    extra: dict[str, Any] = {"RoleSessionName": "s3vault"}
    if external_id:
        extra["ExternalId"] = external_id
    source = base.get_credentials()
    if source is None:
        msg = f"cannot assume {role_arn}: no AWS credentials to assume it with"
        raise BackendError(msg)
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=source,
        role_arn=role_arn,
        extra_args=extra,
    )
    core = botocore.session.Session()
    core._credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    return boto3.session.Session(botocore_session=core, region_name=base.region_name)


def _content_md5(request: Any, **_kwargs: Any) -> None:
    """Content-MD5 of a request body (Swift 2.30 refuses DeleteObjects without it)."""
    body = request.body if isinstance(request.body, bytes) else b""
    if body and "Content-MD5" not in request.headers:
        digest = hashlib.md5(body).digest()  # noqa: S324 - the S3 protocol's transport check
        request.headers["Content-MD5"] = base64.b64encode(digest).decode()


def md5_for(body: bytes, checksum: str | None) -> dict[str, Any]:
    """Content-MD5 for transport integrity where boto3 sends no checksum of its own
    (the ``when_required`` dialect for stores that reject flexible checksums)."""
    if checksum != "when_required":
        return {}
    return {"ContentMD5": base64.b64encode(hashlib.md5(body).digest()).decode()}  # noqa: S324


def _bad_endpoint(given: str | None, exc: ValueError) -> UsageError:
    """A usage error for an endpoint botocore cannot use (no scheme, an empty string), from
    wherever it came: --s3-endpoint, a profile's ``endpoint``, or boto3's own variables."""
    shown = given if given is not None else os.environ.get("AWS_ENDPOINT_URL_S3")
    shown = shown if shown is not None else os.environ.get("AWS_ENDPOINT_URL", "")
    return UsageError(
        f"the S3 endpoint {shown!r} is not a URL ({exc}): write it with its scheme, as "
        "https://HOST[:PORT] (--s3-endpoint, a profile's endpoint, or AWS_ENDPOINT_URL)"
    )


class Connection:
    """The settings in force and the boto3 client made from them. ``reconfigure`` (after the
    capability probe) replaces both; the session, and with it the credentials, stays."""

    def __init__(self, settings: S3Settings, traffic: Traffic) -> None:
        self._s = settings
        self._traffic = traffic
        self._prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self._session = aws_session(settings.aws_profile, settings.role_arn, settings.external_id)
        self.client: Any = self.new_client(settings.checksum)
        self._pid = os.getpid()
        self._once: tuple[int, Any] | None = None  # (process, client): once_client's

    @property
    def settings(self) -> S3Settings:
        """The settings in force."""
        return self._s

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._s.bucket

    @property
    def prefix(self) -> str:
        """The key prefix of the repository ("" or ending in ``/``)."""
        return self._prefix

    def key(self, name: str) -> str:
        """The object key of a repository name (prefix included)."""
        return self._prefix + name

    def owner(self) -> dict[str, Any]:
        """ExpectedBucketOwner, where the settings name one."""
        return {"ExpectedBucketOwner": self._s.bucket_owner} if self._s.bucket_owner else {}

    def md5(self, body: bytes) -> dict[str, Any]:
        """Content-MD5 for this body under the checksum mode in force (see ``md5_for``)."""
        return md5_for(body, self._s.checksum)

    def call(self, operation: str, /, **args: Any) -> Any:
        """One S3 call (``operation``: the client's method name) inside the congestion
        window. A forked process (a backup worker) gets a client of its own: the pooled
        connections are the parent's."""
        method = getattr(self.own_client(), operation)
        with self._traffic.window.slot():
            return method(**args)

    def own_client(self) -> Any:
        """The client of this process: a forked process (a backup worker) makes its own, as
        the pooled connections (and their TLS sessions) are the parent's."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.client = self.new_client(self._s.checksum)
        return self.client

    def once_client(self) -> Any:
        """A client of this process that tries each request once (botocore retries nothing):
        for a clean-up after a failure (a multipart upload's abort), which had botocore's
        three tries of its own on top of the failure's and doubled --retry-deadline against
        a stopped store (an attack pass, 2026-12-07)."""
        if self._once is None or self._once[0] != os.getpid():
            self._once = (os.getpid(), self.new_client(self._s.checksum, tries=1))
        return self._once[1]

    def new_client(self, checksum: str | None, *, tries: int = BOTOCORE_TRIES) -> Any:
        """A boto3 S3 client for these settings with this checksum mode (None: boto3's)."""
        s = self._s
        read, connect = request_timeouts(s.retry_deadline)
        cfg: dict[str, Any] = {
            # botocore retries a little; RetryBackend retries on, to its deadline
            "retries": {"mode": "standard", "total_max_attempts": tries},
            "max_pool_connections": max(10, s.connections * 2),
            "connect_timeout": connect,
            "read_timeout": read,
        }
        if s.path_style:
            cfg["s3"] = {"addressing_style": "path"}
        if checksum:
            cfg["request_checksum_calculation"] = checksum
            cfg["response_checksum_validation"] = checksum
        try:
            client = self._session.client(
                "s3",
                endpoint_url=s.endpoint_url,
                region_name=s.region,
                verify=s.verify_tls,
                config=botocore.config.Config(**cfg),
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: minio.lan:9000"
            raise _bad_endpoint(s.endpoint_url, exc) from None
        except CREDENTIAL_ERRORS as exc:  # an access key without its secret: "internal error"
            msg = f"AWS credentials of s3://{s.bucket}: {exc} (AWS profile, environment or role)"
            raise BackendError(msg) from None
        client.meta.events.register("before-send.s3", self._traffic.count_request)
        client.meta.events.register("needs-retry.s3", self._traffic.on_attempt)
        if checksum == "when_required":  # old stores want Content-MD5, not CRC32, here
            client.meta.events.register("before-sign.s3.DeleteObjects", _content_md5)
        return client

    def reconfigure(self, **changes: Any) -> None:
        """Work with these settings changed; a new client if the checksum mode the client
        works with changes. A client made with boto3's default (None) already works with
        the mode its configuration resolved, most often the probe's ``when_supported``: then
        it stays (a second client cost every S3 command about 8 ms of CPU)."""
        old = self._s.checksum
        self._s = dataclasses.replace(self._s, **changes)
        self._once = None  # made again with these settings when next needed
        wanted = self._s.checksum
        if wanted == old:
            return
        config = self.client.meta.config
        working = {config.request_checksum_calculation, config.response_checksum_validation}
        if wanted is None or working != {wanted}:
            self.client = self.new_client(wanted)
