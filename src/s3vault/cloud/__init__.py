"""Account administration beside the byte store: the AWS services a repository uses that are
not its storage. Bucket setup and the bucket's posture check (bucket.py, bucketpolicy.py,
posture.py), KMS as a key-wrapping service (kms.py), CloudWatch metrics and alarms
(cloudwatch.py, alarms.py), least-privilege IAM policies (iam.py), the S3 bill (cost/, with its
price tables in data/), and the audit set-up and its checks: CloudTrail data events (trail.py,
checked by trailcheck.py), AWS Config rules (configrules.py), GuardDuty (guardduty.py), planned
as AuditStep records (auditstep.py) with clients from services.py.

Imports backend (the S3 session and options), errors and foundations; boto3 and botocore are
imported only when one of these modules is used. Never ops, repository or format: an operation
(ops/) composes these with the repository."""
