"""s3vault: deduplicating, encrypted backups of server fleets into S3 or a local directory.

Every operation is a Python call with an options record in and a result record out::

    from s3vault import RepoOptions, BackupOptions, open_repository, backup
    repo = open_repository(RepoOptions(url="/srv/backup-repo", password=b"..."))
    result = backup(repo, BackupOptions(paths=("/etc",)))
"""

from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.cloud.cost import Estimate, LineItem, Usage, estimate, load_prices
from s3vault.cloud.iam import ROLES as IAM_ROLES
from s3vault.errors import (
    ExitCode,
    IntegrityError,
    RepositoryNotFoundError,
    S3VaultError,
    UsageError,
    WrongPasswordError,
)
from s3vault.maintenance.prune import PruneOptions
from s3vault.maintenance.retention import KeepDuration, Policy
from s3vault.ops.backup import BackupOptions, BackupResult, backup
from s3vault.ops.bucket import SetupBucketOptions, SetupBucketResult, setup_bucket
from s3vault.ops.cost import CostOptions, cost, measure_usage
from s3vault.ops.diff import Change, DiffStats, diff, resolve_pair
from s3vault.ops.doctor import DoctorOptions, DoctorResult, doctor
from s3vault.ops.drill import DrillOptions, DrillResult, drill_history, restore_test
from s3vault.ops.find import FindOptions, FindResult, find
from s3vault.ops.forget import ForgetOptions, ForgetResult, forget
from s3vault.ops.iam import iam_policy
from s3vault.ops.init import InitOptions, InitResult, init
from s3vault.ops.ls import LsEntry, ls
from s3vault.ops.prune import PruneResult, prune
from s3vault.ops.repair import (
    RepairIndexResult,
    RepairSnapshotsOptions,
    RepairSnapshotsResult,
    repair_index,
    repair_snapshots,
)
from s3vault.ops.restore import RestoreOptions, RestoreResult, restore
from s3vault.ops.session import RepoOptions, open_repository
from s3vault.ops.snapshots import SnapshotEntry, SnapshotFilter, snapshots
from s3vault.ops.unlock import UnlockResult, unlock
from s3vault.ops.verify import VerifyOptions, VerifyResult, verify
from s3vault.progress import NullProgress, Progress
from s3vault.repository.lease import LeaseSettings
from s3vault.repository.repository import Repository, RepositorySettings
from s3vault.version import __version__

__all__ = [
    "__version__",
    # operations
    "init",
    "open_repository",
    "backup",
    "restore",
    "snapshots",
    "ls",
    "find",
    "diff",
    "resolve_pair",
    "verify",
    "repair_index",
    "repair_snapshots",
    "restore_test",
    "drill_history",
    "forget",
    "prune",
    "unlock",
    "setup_bucket",
    "doctor",
    "cost",
    "measure_usage",
    "estimate",
    "load_prices",
    "iam_policy",
    # records
    "RepoOptions",
    "InitOptions",
    "InitResult",
    "RepositorySettings",
    "BackupOptions",
    "BackupResult",
    "VerifyOptions",
    "VerifyResult",
    "RepairIndexResult",
    "RepairSnapshotsOptions",
    "RepairSnapshotsResult",
    "DrillOptions",
    "DrillResult",
    "RestoreOptions",
    "RestoreResult",
    "SnapshotFilter",
    "SnapshotEntry",
    "LsEntry",
    "FindOptions",
    "FindResult",
    "Change",
    "DiffStats",
    "Policy",
    "KeepDuration",
    "ForgetOptions",
    "ForgetResult",
    "PruneOptions",
    "PruneResult",
    "LeaseSettings",
    "UnlockResult",
    "Repository",
    "SetupBucketOptions",
    "SetupBucketResult",
    "DoctorOptions",
    "DoctorResult",
    "Check",
    "OK",
    "WARNING",
    "WRONG",
    "CostOptions",
    "Usage",
    "LineItem",
    "Estimate",
    "IAM_ROLES",
    # progress
    "Progress",
    "NullProgress",
    # errors
    "ExitCode",
    "S3VaultError",
    "UsageError",
    "RepositoryNotFoundError",
    "WrongPasswordError",
    "IntegrityError",
]
