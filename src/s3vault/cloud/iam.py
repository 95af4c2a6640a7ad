"""iam-policy: least-privilege IAM policies for a repository's bucket and prefix.

- backup: list, read, write new objects, abort its multipart uploads, extend Object Lock
  retain-until dates, remove the capability probe's own objects (``probe/``, which ``init``
  writes and removes again); an explicit deny of every other delete (of each kind of repository
  object, by name), of bypassing governance and of changing the bucket's policy, lifecycle or
  lock configuration.
- maintenance: what backup can, plus delete (forget, prune, key changes, unlock) and, with
  Object Lock, delete object versions.
- auditor: list and read (snapshots, verify, audit, stats, cost), and write its audit records.
- restore-test: list and read, and write drill records and audit records.
- restore: list and read, and write audit records; with ``--kms-key``, ``kms:Decrypt``
  only: the role a fleet's hosts assume for a restore (docs/keys.md), whose KMS key opens the
  full key that the hosts' day-to-day credentials cannot.
- put-only: a backup host with a put-only key (design.md §6a). It reads the config, the key
  files, the dedup views and the host states, lists, and creates data and tree packs, index
  files, snapshots, its state and its audit records; never config, key files, deletion
  records, the ledger, drill records or the lease, never deletes, and never overwrites: a
  PutObject or CompleteMultipartUpload without ``If-None-Match: *`` is denied (AWS's
  ``s3:if-none-match`` and ``s3:ObjectCreationOperation`` condition keys), which the host
  sends on every write. S3 authorises a HEAD
  with ``s3:GetObject``, and the store checks every object it writes with one (its size), so
  the kinds it writes are readable by HEAD and GET alike: what keeps their contents from the
  host is the sealing (§6a), not IAM. With ``--object-lock``: it sets the retain-until of
  what it creates (S3 asks ``s3:PutObjectRetention`` of a PUT that carries one) and extends
  those of the packs its snapshot needs, of the config and of the key files, as a full-key
  backup does (docs/immutability.md); the governance bypass stays denied, so it can lengthen
  a lock, never shorten one. With ``--kms-key`` (its put-only key's KMS key): ``kms:Decrypt``
  only.
"""

from __future__ import annotations

from typing import Any

from s3vault.errors import UsageError
from s3vault.format.layout import ObjectKind

ROLES = ("backup", "maintenance", "auditor", "restore-test", "restore", "put-only")
# what a put-only host reads (GET) beyond the kinds it writes, what it writes, and (with
# Object Lock) whose retain-until it extends beyond what it writes
PUT_ONLY_READS = (ObjectKind.CONFIG, ObjectKind.KEYS, ObjectKind.VIEWS, ObjectKind.STATE)
PUT_ONLY_WRITES = (
    ObjectKind.DATA,
    ObjectKind.TREE,
    ObjectKind.INDEX,
    ObjectKind.SNAPSHOTS,
    ObjectKind.STATE,
    ObjectKind.AUDIT,
)
PUT_ONLY_EXTENDS = (ObjectKind.CONFIG, ObjectKind.KEYS)
# A request that creates an object (PutObject, CompleteMultipartUpload) and does not carry
# If-None-Match: * may overwrite one: denied to the put-only host, which writes with it always
CREATE_ONLY = {
    "Null": {"s3:if-none-match": "true"},
    "Bool": {"s3:ObjectCreationOperation": "true"},
}
READ = ["s3:GetObject", "s3:GetObjectRetention"]
WRITE = ["s3:PutObject", "s3:AbortMultipartUpload"]


def policy(
    role: str,
    bucket: str,
    prefix: str,
    *,
    kms_key_arns: tuple[str, ...] = (),
    object_lock: bool = False,
) -> dict[str, Any]:
    """The IAM policy document for one role.

    Raises:
        UsageError: an unknown role or no bucket.
    """
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not bucket:
        raise UsageError("iam-policy needs an s3:// repository")
    prefix = prefix.strip("/")
    objects = f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"
    if role == "put-only":
        return _put_only(bucket, prefix, objects, kms_key_arns, object_lock=object_lock)
    listing = _listing(bucket, prefix)
    actions = list(READ)
    if role in ("backup", "maintenance"):
        actions += WRITE + (["s3:PutObjectRetention"] if object_lock else [])
    if role == "maintenance":
        actions += ["s3:DeleteObject"] + (["s3:DeleteObjectVersion"] if object_lock else [])
    statements: list[dict[str, Any]] = [
        listing,
        {"Sid": "Objects", "Effect": "Allow", "Action": sorted(actions), "Resource": objects},
    ]
    if role in ("auditor", "restore-test", "restore"):  # their runs are in the audit log too,
        base = objects.removesuffix("*")  # and what they read back in the verification ledger
        records = [base + "audit/*"] + ([base + "ledger/*"] if role != "restore" else [])
        records += [base + "drills/*"] if role == "restore-test" else []
        statements.append(
            {"Sid": "Records", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": records}
        )
    if kms_key_arns:
        kms = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if role not in _DECRYPT_ONLY else [])
        if role == "maintenance":  # key add --kms-key-id wraps a key file: Encrypt
            kms.append("kms:Encrypt")
        statements.append(
            {"Sid": "Kms", "Effect": "Allow", "Action": kms, "Resource": list(kms_key_arns)}
        )
    if role == "backup":
        statements += _backup_denies(bucket, objects)
    return {"Version": "2012-10-17", "Statement": statements}


_DECRYPT_ONLY = ("auditor", "restore", "put-only")


def _listing(bucket: str, prefix: str) -> dict[str, Any]:
    listing: dict[str, Any] = {
        "Sid": "ListTheRepository",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketObjectLockConfiguration"],
        "Resource": f"arn:aws:s3:::{bucket}",
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    return listing


def _put_only(
    bucket: str, prefix: str, objects: str, kms_key_arns: tuple[str, ...], *, object_lock: bool
) -> dict[str, Any]:
    """The put-only host's policy (module docstring)."""
    base = objects.removesuffix("*")

    def names(kinds: tuple[ObjectKind, ...]) -> list[str]:
        return [base + (k.value if k is ObjectKind.CONFIG else f"{k.value}/*") for k in kinds]

    kept = tuple(k for k in ObjectKind if k not in PUT_ONLY_WRITES)
    statements: list[dict[str, Any]] = [
        _listing(bucket, prefix),
        {
            "Sid": "ReadSettingsKeysViewsStates",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": names(PUT_ONLY_READS),
        },
        {  # GetObject: the HEAD after every write (S3 authorises HEAD as GetObject)
            "Sid": "WriteBackups",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Resource": names(PUT_ONLY_WRITES),
        },
        {  # AWS's conditional-write keys: a PutObject or CompleteMultipartUpload (a creation
            # operation) without If-None-Match is an overwrite the host never needs; starting
            # an upload and its parts carry no such header and are not creation operations
            "Sid": "CreateNeverOverwrite",
            "Effect": "Deny",
            "Action": ["s3:PutObject"],
            "Resource": names(PUT_ONLY_WRITES),
            "Condition": CREATE_ONLY,
        },
        {
            "Sid": "NeverWriteAnythingElse",
            "Effect": "Deny",
            "Action": ["s3:PutObject"],
            "Resource": names(kept),
        },
        {
            "Sid": "NeverDelete",
            "Effect": "Deny",
            "Action": [
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:BypassGovernanceRetention",
                "s3:PutBucketPolicy",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketObjectLockConfiguration",
            ],
            "Resource": [f"arn:aws:s3:::{bucket}", objects],
        },
    ]
    if object_lock:  # GetObjectRetention: a HEAD shows a retain-until only with it
        statements.insert(
            3,
            {
                "Sid": "KeepLocks",
                "Effect": "Allow",
                "Action": ["s3:GetObjectRetention", "s3:PutObjectRetention"],
                "Resource": names(PUT_ONLY_WRITES + PUT_ONLY_EXTENDS),
            },
        )
    if kms_key_arns:
        statements.append(
            {
                "Sid": "Kms",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": list(kms_key_arns),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _backup_denies(bucket: str, objects: str) -> list[dict[str, Any]]:
    """The backup role's probe clean-up and explicit denies (``objects``: the prefix's ARN
    pattern). Deletes are denied by kind of repository object rather than on the whole
    prefix, because an explicit deny cannot be overridden and ``init``'s capability probe
    must remove its ``probe/`` objects; every repository object kind is named."""
    base = objects.removesuffix("*")
    kinds = [base + (k.value if k is ObjectKind.CONFIG else f"{k.value}/*") for k in ObjectKind]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return [
        {
            "Sid": "RemoveItsProbe",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject"],
            "Resource": [base + "probe/*"],
        },
        {
            "Sid": "NeverDeleteRepositoryObjects",
            "Effect": "Deny",
            "Action": ["s3:DeleteObject"],
            "Resource": [bucket_arn, *kinds],
        },
        {  # backups take no lease: a backup host cannot hold prune off, nor leave a lease
            "Sid": "NeverTakeTheLease",
            "Effect": "Deny",
            "Action": ["s3:PutObject"],
            "Resource": [base + ObjectKind.LOCKS.value + "/*"],
        },
        {
            "Sid": "NeverDelete",
            "Effect": "Deny",
            "Action": [
                "s3:DeleteObjectVersion",
                "s3:BypassGovernanceRetention",
                "s3:PutBucketPolicy",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketObjectLockConfiguration",
            ],
            "Resource": [bucket_arn, objects],
        },
    ]
