"""The S3 store (AWS or S3-compatible), through boto3. One module per concern:

- client.py     S3Settings, the AWS session (AWS profile, assumed role) and the boto3 client
- errors.py     botocore exceptions → s3vault errors (the one table)
- traffic.py    requests counted, bytes throttled, the congestion window
- store.py      S3Backend: the Backend contract (put, get, stat, list, delete, replace, ...)
- multipart.py  uploads in parallel equal parts, aborted on failure
- objectlock.py Object Lock retain-until dates: lock on create, extend, delete by version
- probe.py      the capability probe at init, and adopting what it found

Only client.py and errors.py import boto3/botocore.
"""

from s3vault.backend.s3.client import S3Settings, aws_session
from s3vault.backend.s3.store import S3Backend

__all__ = ["S3Backend", "S3Settings", "aws_session"]
