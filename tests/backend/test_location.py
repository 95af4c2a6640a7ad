"""Repository URLs: s3vault's own and restic's spellings of S3 repositories parse alike; a
scheme s3vault does not store in is refused, never taken for a local directory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.backend.location import S3Url, open_backend, parse_s3_url, refuse_unknown_scheme
from s3vault.errors import UsageError

BUCKET = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]", fullmatch=True).filter(
    lambda b: ".." not in b and not b.startswith("s3")
)
PREFIX = st.from_regex(r"([a-z0-9_-]{1,12}(/[a-z0-9_-]{1,12}){0,3})?", fullmatch=True)


@given(bucket=BUCKET, prefix=PREFIX)
def test_every_spelling_names_the_same_bucket_and_prefix(bucket: str, prefix: str) -> None:
    tail = f"{bucket}/{prefix}" if prefix else bucket
    ours = S3Url(bucket=bucket, prefix=prefix)
    assert parse_s3_url(f"s3://{tail}") == ours
    endpoint = parse_s3_url(f"s3:https://minio.example.net:9000/{tail}")
    assert endpoint == S3Url(bucket, prefix, endpoint="https://minio.example.net:9000")
    aws = parse_s3_url(f"s3:s3.amazonaws.com/{tail}")
    assert aws == ours
    regional = parse_s3_url(f"s3:s3.eu-west-3.amazonaws.com/{tail}")
    assert regional == S3Url(bucket, prefix, region="eu-west-3")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "s3:http://127.0.0.1:9000/backups",
            S3Url("backups", "", endpoint="http://127.0.0.1:9000"),
        ),
        ("s3:s3-us-west-2.amazonaws.com/b1/x", S3Url("b1", "x", region="us-west-2")),
        ("s3:s3.dualstack.ap-south-1.amazonaws.com/b1", S3Url("b1", "", region="ap-south-1")),
        (
            "s3://arn:aws:s3:us-east-1:123456789012:accesspoint:ap1/x",
            S3Url("arn:aws:s3:us-east-1:123456789012:accesspoint:ap1", "x"),
        ),
    ],
)
def test_restic_spellings(url: str, expected: S3Url) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["s3:", "s3://", "s3:s3.amazonaws.com/", "s3:https://host.example/", "s3://"],
)
def test_no_bucket_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="no bucket"):
        parse_s3_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "sftp:host:/srv/restic-repo",
        "sftp://user@host/srv/repo",
        "rest:http://host:8000/",
        "b2:bucket:path",
        "azure:container:/",
        "gs:bucket:/",
        "swift:container:/",
        "rclone:remote:path",
        "https://s3.amazonaws.com/bucket",
    ],
)
def test_other_schemes_are_refused(url: str) -> None:
    scheme = url.split(":", 1)[0]
    with pytest.raises(UsageError, match=f"unsupported repository type {scheme}:"):
        refuse_unknown_scheme(url)
    with pytest.raises(UsageError):
        open_backend(url)


@pytest.mark.parametrize(
    "url", ["/srv/backups", "./sftp:host", "relative/dir", "file:/srv/b", "memory:", "s3://b/p"]
)
def test_paths_and_known_schemes_pass(url: str) -> None:
    refuse_unknown_scheme(url)


@pytest.mark.parametrize("url", ["s3://bk3:99/repo", "s3://user@bk3/repo", "s3:https://h/b c/x"])
def test_what_cannot_be_a_bucket_name_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="cannot be a bucket's name"):
        parse_s3_url(url)


@pytest.mark.parametrize(
    "url", ["s3:backups.example.com/web1", "s3:minio.lan/bk3/repo", "s3:127.0.0.1:9000/bk3/a"]
)
def test_a_name_that_restic_and_older_s3vault_read_apart_is_refused(url: str) -> None:
    """restic reads s3:NAME/... as the endpoint https://NAME, s3vault before 2026-12-06 read
    NAME as the bucket (a migrated s3:minio.lan/bk3/repo went to an AWS bucket "minio.lan"):
    neither is guessed; the message gives both spellings."""
    name, _, tail = url.removeprefix("s3:").partition("/")
    with pytest.raises(UsageError, match="ambiguous") as refused:
        parse_s3_url(url)
    assert f"s3:https://{name}/{tail}" in str(refused.value)
    assert f"s3://{name}/{tail}" in str(refused.value)
