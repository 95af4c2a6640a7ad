"""iam-policy: the least-privilege IAM policy of a role on the repository's bucket and prefix
(the roles and their statements: cloud/iam.py). Reads no repository: only its URL."""

from __future__ import annotations

from typing import Any

from s3vault.cloud.iam import policy
from s3vault.ops.bucket import s3_repository


def iam_policy(
    url: str, role: str, *, kms_key_arns: tuple[str, ...] = (), object_lock: bool = False
) -> dict[str, Any]:
    """The policy document (JSON-ready) for ``role`` on the S3 repository at ``url``.

    Raises:
        UsageError: not an S3 repository, or an unknown role.
    """
    bucket, prefix = s3_repository(url, "iam-policy")
    return policy(role, bucket, prefix, kms_key_arns=kms_key_arns, object_lock=object_lock)
