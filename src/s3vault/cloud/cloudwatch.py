"""CloudWatch custom metrics (--cloudwatch-namespace): the figures of --metrics-file, put with
PutMetricData under a namespace, dimensioned by command, config profile, host and repository;
the figures that describe the repository rather than one host's run (``REPOSITORY_FIGURES``)
are put a second time with the ``Repository`` dimension alone, so that one alarm watches a
repository whichever host ran the command (cloud/alarms.py). The session (AWS profile, role,
region) is the repository's; the endpoint is boto3's (AWS_ENDPOINT_URL_CLOUDWATCH or
AWS_ENDPOINT_URL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import botocore.config
import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.errors import BackendError

BATCH = 1000  # PutMetricData takes up to 1,000 values per call

# Put with the Repository dimension alone as well (a repository's alarms: docs/security.md)
REPOSITORY_FIGURES = frozenset(
    {
        "bytes_added",
        "repository_bytes",
        "last_prune_timestamp_seconds",
        "verify_problems",
        "verify_proven_ratio",
        "restore_test_passed",
        "restore_test_projected_rto_seconds",
    }
)


def unit_of(name: str) -> str:
    """The CloudWatch unit of a figure, from its name."""
    for suffix, unit in (("_bytes", "Bytes"), ("bytes_", "Bytes"), ("_seconds", "Seconds")):
        if name.endswith(suffix) or name.startswith(suffix):
            return unit
    return "Count" if not name.endswith(("ratio", "passed", "code")) else "None"


def client(options: BackendOptions, service: str = "cloudwatch") -> Any:
    """A client of ``service`` (cloudwatch, sns) with the repository's AWS profile, role and
    region, and boto3's standard retries."""
    session = aws_session(options.aws_profile, options.aws_role_arn, options.aws_external_id)
    return session.client(
        service,
        region_name=options.s3_region,
        verify=options.s3_verify_tls,
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}),
    )


def put_metrics(
    namespace: str,
    series: Sequence[tuple[Mapping[str, str], Mapping[str, float]]],
    options: BackendOptions,
    when: float,
) -> None:
    """Send one datum per value of each (dimensions, values) pair of ``series``.

    Raises:
        BackendError: CloudWatch refused or is unreachable.
    """
    stamp = datetime.fromtimestamp(when, UTC)
    data = []
    for dimensions, values in series:
        dims = [{"Name": k, "Value": v or "-"} for k, v in sorted(dimensions.items())]
        data += [
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": stamp,
                "Value": float(value),
                "Unit": unit_of(name),
            }
            for name, value in sorted(values.items())
        ]
    cw = client(options)
    try:
        for start in range(0, len(data), BATCH):
            cw.put_metric_data(Namespace=namespace, MetricData=data[start : start + BATCH])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        msg = f"CloudWatch PutMetricData to {namespace}: {exc}"
        raise BackendError(msg) from None
