"""CloudWatch custom metrics (--cloudwatch-namespace): the figures of --metrics-file, put with
PutMetricData under a namespace, dimensioned by command, config profile, host and repository.
The session (AWS profile, role, region) is the repository's; the endpoint is boto3's
(AWS_ENDPOINT_URL_CLOUDWATCH or AWS_ENDPOINT_URL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import botocore.config
import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.errors import BackendError

BATCH = 1000  # PutMetricData takes up to 1,000 values per call


def _unit(name: str) -> str:
    for suffix, unit in (("_bytes", "Bytes"), ("bytes_", "Bytes"), ("_seconds", "Seconds")):
        if name.endswith(suffix) or name.startswith(suffix):
            return unit
    return "Count" if not name.endswith(("ratio", "passed", "code")) else "None"


def put_metrics(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    options: BackendOptions,
    when: float,
) -> None:
    """Send one datum per value.

    Raises:
        BackendError: CloudWatch refused or is unreachable.
    """
    session = aws_session(options.aws_profile, options.aws_role_arn, options.aws_external_id)
    client = session.client(
        "cloudwatch",
        region_name=options.s3_region,
        verify=options.s3_verify_tls,
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}),
    )
    dims = [{"Name": k, "Value": v or "-"} for k, v in sorted(dimensions.items())]
    stamp = datetime.fromtimestamp(when, UTC)
    data = [
        {
            "MetricName": name,
            "Dimensions": dims,
            "Timestamp": stamp,
            "Value": float(value),
            "Unit": _unit(name),
        }
        for name, value in sorted(values.items())
    ]
    try:
        for start in range(0, len(data), BATCH):
            client.put_metric_data(Namespace=namespace, MetricData=data[start : start + BATCH])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        msg = f"CloudWatch PutMetricData to {namespace}: {exc}"
        raise BackendError(msg) from None
