"""Repository URLs → backend stacks: a path or ``file:PATH``, ``memory:`` (tests), and
``s3://bucket/prefix`` (boto3 is imported only then, so local repositories start fast).

restic's spellings of S3 repositories are accepted too, with restic's meaning (docs/usage.md):
``s3:https://HOST[:PORT]/bucket/prefix`` (the endpoint in the URL), and
``s3:s3.amazonaws.com/bucket/prefix`` or ``s3:s3.REGION.amazonaws.com/bucket/prefix`` (AWS's
endpoint; the region from the host). ``s3:NAME/rest`` with any other NAME is refused: restic
reads NAME as the endpoint's host, s3vault before 2026-12-06 read it as the bucket, and either
reading sends a signed request where the other did not mean it to go. Any
other ``scheme:`` (restic's ``sftp:``, ``rest:``, ``b2:``, ``azure:``, ``gs:``, ``swift:``,
``rclone:``, or ``https://...``) is refused: it must never be taken for a local directory named
``sftp:host:`` that a backup would quietly fill. A local path with a colon in its first part is
written ``./name`` or ``file:name``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from s3vault.backend.base import Backend
from s3vault.errors import UsageError
from s3vault.progress import Waiting


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendOptions:
    """How to reach the storage (S3 settings are ignored for local repositories)."""

    s3_endpoint: str | None = None
    s3_region: str | None = None
    aws_profile: str | None = None
    s3_path_style: bool = False
    s3_checksum: str | None = None
    s3_verify_tls: bool | str | None = None
    s3_connections: int = 8
    s3_storage_class: str | None = None
    s3_sse: str | None = None  # "AES256" or "aws:kms"
    s3_kms_key_id: str | None = None
    s3_bucket_owner: str | None = None
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    retry_deadline: float = 300.0
    limit_upload: int | None = None  # KiB/s
    limit_download: int | None = None
    # hears the retries' ``waiting`` events (a store failing for minutes is not silent)
    waits: Waiting | None = field(default=None, compare=False)


# s3.amazonaws.com, s3.REGION.amazonaws.com, s3-REGION.amazonaws.com, s3.dualstack.REGION...
_AWS_HOST = re.compile(
    r"^s3(?:[.-](?:dualstack\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?\.amazonaws\.com(?:\.cn)?$"
)
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")  # botocore's rule for names (not ARNs)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
KNOWN_SCHEMES = ("s3", "file", "memory")


@dataclass(frozen=True, slots=True)
class S3Url:
    """An S3 repository URL, parsed: the bucket and prefix, and the endpoint and region when the
    URL names them (restic's spellings)."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    region: str | None = None


def parse_s3_url(url: str) -> S3Url:
    """THE parser of S3 repository URLs: ``s3://bucket/prefix``,
    ``s3:http(s)://host[:port]/bucket/prefix`` and ``s3:s3[.REGION].amazonaws.com/bucket/prefix``.

    Raises:
        UsageError: no bucket in the URL, a name that cannot be a bucket's, or ``s3:NAME/...``
            whose NAME is neither a URL nor AWS's endpoint (see the module docstring: an
            earlier s3vault sent a migrated ``s3:minio.lan/bk/web1`` to an AWS bucket named
            ``minio.lan``).
    """
    endpoint = region = None
    if url.startswith("s3://"):
        rest = url.removeprefix("s3://")
    else:
        rest = url.removeprefix("s3:")
        endpoint_url = re.match(r"^(https?://[^/]+)/?(.*)$", rest)
        first = rest.partition("/")[0]
        aws = _AWS_HOST.match(first)
        if endpoint_url is not None:
            endpoint, rest = endpoint_url.group(1), endpoint_url.group(2)
        elif aws is not None:  # AWS's endpoint: boto3's default one, in the host's region
            region, rest = aws.group("region"), rest.partition("/")[2]
        elif first:
            tail = rest.partition("/")[2]
            msg = (
                f"{url!r} is ambiguous: restic reads {first!r} as the endpoint's host (write "
                f"s3:https://{first}/{tail}), s3vault before 2026-12-06 as the bucket (write "
                f"s3://{first}/{tail})"
            )
            raise UsageError(msg)
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        msg = f"no bucket in {url!r}: use s3://bucket/prefix"
        raise UsageError(msg)
    if not _BUCKET.match(bucket) and not bucket.startswith("arn:"):  # an access point's ARN
        msg = (
            f"{bucket!r} in {url!r} cannot be a bucket's name (letters, digits, '.', '-' and "
            "'_' only): the endpoint goes in --s3-endpoint or s3:https://HOST[:PORT]/bucket"
        )
        raise UsageError(msg)
    return S3Url(bucket=bucket, prefix=prefix, endpoint=endpoint, region=region)


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and prefix of an S3 repository URL (parse_s3_url)."""
    parsed = parse_s3_url(url)
    return parsed.bucket, parsed.prefix


def enclosing_configs(url: str) -> tuple[str, list[tuple[str, str]]]:
    """The locations that hold this one inside them: a directory's parents (its real path's),
    an S3 prefix's shorter prefixes down to the bucket's root. A repository at one of them
    would list this one's objects as its own. Returns the outermost location's URL (``/``,
    the bucket's root), and for each enclosing location, nearest first, its URL and the name
    of its ``config`` from the outermost one: one backend asks them all, however deep the
    path (none for ``memory:``).

    Raises:
        UsageError: a malformed S3 URL.
    """
    if url == "memory:":
        return url, []
    if url.startswith("s3:"):
        prefix = parse_s3_url(url).prefix
        parts = [p for p in prefix.split("/") if p]
        root = url[: len(url) - len(prefix)].rstrip("/")
    else:
        path = Path(os.path.realpath(Path(url.removeprefix("file:")).expanduser()))
        parts, root = list(path.parts[1:]), path.anchor
    found = []
    for n in range(len(parts) - 1, -1, -1):
        below = "/".join(parts[:n])
        shown = f"{root.rstrip('/')}/{below}" if below else root
        found.append((shown, f"{below}/config" if below else "config"))
    return root, found


def url_options(url: str, options: BackendOptions) -> BackendOptions:
    """``options`` with the endpoint and region restic's ``s3:https://HOST/bucket`` URL names
    (for clients made beside the store: doctor, setup-bucket; they went to AWS's endpoint
    instead). An endpoint given both ways must be the same (``open_backend``).

    Raises:
        UsageError: a malformed URL, or two endpoints.
    """
    if not url.startswith("s3:"):
        return options
    s3 = parse_s3_url(url)
    if s3.endpoint and options.s3_endpoint and s3.endpoint != options.s3_endpoint.rstrip("/"):
        msg = (
            f"the repository URL names the endpoint {s3.endpoint} and --s3-endpoint "
            f"names {options.s3_endpoint}: give one"
        )
        raise UsageError(msg)
    return replace(
        options,
        s3_endpoint=s3.endpoint or options.s3_endpoint,
        s3_region=options.s3_region or s3.region,
    )


def refuse_unknown_scheme(url: str) -> None:
    """Refuse a URL whose ``scheme:`` s3vault does not store in (see the module docstring).

    Raises:
        UsageError: the scheme is not s3, file or memory.
    """
    match = _SCHEME.match(url)
    if match is None or match.group("scheme") in KNOWN_SCHEMES:
        return
    scheme = match.group("scheme")
    msg = (
        f"unsupported repository type {scheme}: in {url!r}: s3vault stores in S3 "
        "(s3://bucket/prefix, or restic's s3:https://host/bucket/prefix) or a local "
        f"directory (write a local path that starts with {scheme}: as ./{url})"
    )
    raise UsageError(msg)


def open_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """The raw backend for a repository URL.

    Raises:
        UsageError: an empty or malformed URL.
    """
    options = options or BackendOptions()
    if not url:
        msg = "no repository given: use -r/--repo or set S3VAULT_REPOSITORY"
        raise UsageError(msg)
    refuse_unknown_scheme(url)
    if url.startswith("s3:"):
        s3 = parse_s3_url(url)
        options = url_options(url, options)  # the URL's endpoint and region; refuses two
        from s3vault.backend.s3 import S3Backend, S3Settings

        return S3Backend(
            S3Settings(
                bucket=s3.bucket,
                prefix=s3.prefix,
                endpoint_url=options.s3_endpoint,
                region=options.s3_region,
                aws_profile=options.aws_profile,
                path_style=options.s3_path_style,
                checksum=options.s3_checksum,
                verify_tls=options.s3_verify_tls,
                connections=options.s3_connections,
                storage_class=options.s3_storage_class,
                sse=options.s3_sse,
                kms_key_id=options.s3_kms_key_id,
                bucket_owner=options.s3_bucket_owner,
                role_arn=options.aws_role_arn,
                external_id=options.aws_external_id,
                retry_deadline=options.retry_deadline,
            )
        )
    if url == "memory:":
        from s3vault.backend.memory import MemoryBackend

        return MemoryBackend()
    from s3vault.backend.local import LocalBackend

    path = url.removeprefix("file:")
    return LocalBackend(Path(path).expanduser().absolute())
