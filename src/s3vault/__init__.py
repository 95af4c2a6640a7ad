"""s3vault: deduplicating, encrypted backups of server fleets into S3 or a local directory.

Every operation is a Python call with an options record in and a result record out::

    from s3vault import RepoOptions, BackupOptions, open_repository, backup
    repo = open_repository(RepoOptions(url="/srv/backup-repo", password=b"..."))
    result = backup(repo, BackupOptions(paths=("/etc",)))

This module is the public API, and the only one the command line (s3vault.cli) imports. Its names
load on first use (PEP 562): a command imports the modules its own work needs, not the whole
library (``s3vault snapshots`` starts in about 0.1 s less CPU; docs/performance.md).
"""

import importlib as _importlib
import typing as _typing

from s3vault.version import __version__

# Every exported name by the module that defines it; NAME:OWN where the module calls it OWN.
# The same as the imports under TYPE_CHECKING below (tests/test_public_api.py checks it).
_BY_MODULE = {
    "s3vault.backend.location": "BackendOptions",
    "s3vault.checker.packsalvage": "PackSalvage",
    "s3vault.clock": "Clock ManualClock SystemClock",
    "s3vault.cloud.check": "OK WARNING WRONG Check",
    "s3vault.cloud.cost": (
        "NETWORK_PATHS Estimate FleetPlan LineItem Pricing Usage estimate load_prices"
    ),
    "s3vault.cloud.iam": "IAM_ROLES:ROLES",
    "s3vault.crashpoint": "crash_point",
    "s3vault.crypto.recovery": "decode_recovery_key:decode",
    "s3vault.errors": (
        "ARCHIVED AccessDeniedError BackendError BackendUnavailableError ExitCode "
        "FormatVersionError IntegrityError KeyError_ LeaseHeldError LeaseLostError MountError "
        "NoKeyError NoPasswordError NotAnObjectError NotARepositoryError ObjectNotFoundError "
        "PutOnlyKeyError "
        "ReportError RepositoryNotFoundError RestoreError S3VaultError TransientBackendError "
        "UsageError WrongPasswordError out_of_memory_message worst_exit_code"
    ),
    "s3vault.format.codec": "readable",
    "s3vault.format.drillfile": "DrillFile",
    "s3vault.format.tree": "Node NodeType",
    "s3vault.ids": "ObjectId is_hex",
    "s3vault.maintenance.prune": "PruneOptions",
    "s3vault.maintenance.retention": "KeepDuration Policy",
    "s3vault.ops": "routine",
    "s3vault.ops.alarms": "AlarmOutcome SetupAlarmsOptions SetupAlarmsResult setup_alarms",
    "s3vault.ops.audit": "AuditNote AuditReport Invocation audit_log audited invocation measured",
    "s3vault.ops.audit_setup": "AuditItem SetupAuditOptions SetupAuditResult setup_audit",
    "s3vault.ops.backup": "BackupOptions BackupResult backup",
    "s3vault.ops.backup_putonly": "backup_put_only open_put_only_repository",
    "s3vault.ops.bucket": "SetupBucketOptions SetupBucketResult setup_bucket",
    "s3vault.ops.cache": "DEFAULT_MAX_AGE_DAYS CacheEntry CacheOptions CacheResult cache",
    "s3vault.ops.cat": "CAT_KINDS NEEDS_INDEX CatOptions CatResult cat",
    "s3vault.ops.copy": "CopyOptions CopyResult copy",
    "s3vault.ops.cost": "CostOptions cost measure_usage plan_cost",
    "s3vault.ops.diff": (
        "BlobTally Change DiffSide DiffStatistics DiffStats SideCounts diff resolve_pair"
    ),
    "s3vault.ops.doctor": "DoctorOptions DoctorResult doctor",
    "s3vault.ops.drill": "DrillOptions DrillResult drill_history restore_test",
    "s3vault.ops.dump": "DumpOptions DumpResult dump",
    "s3vault.ops.find": "FindOptions FindResult find FindIdsOptions FindIdsResult IdMatch Wanted "
    "find_ids wanted",
    "s3vault.ops.fleet": "CoveragePoint FleetOptions FleetResult LedgerFigures fleet",
    "s3vault.ops.fleetrows": "DrillPoint HostRow SnapshotPoint",
    "s3vault.ops.forget": "ForgetOptions ForgetResult forget split_group_by",
    "s3vault.ops.iam": "iam_policy",
    "s3vault.ops.init": "InitOptions InitResult init object_lock_policy",
    "s3vault.ops.keys": (
        "EpochEntry KeyEntry RotateResult add_key add_kms_key "
        "add_recovery_key change_password list_epochs list_keys "
        "remove_key rotate_master sync_keys"
    ),
    "s3vault.ops.keys_putonly": "add_put_only_key pin_check",
    "s3vault.ops.listing": "LISTABLE list_objects",
    "s3vault.ops.ls": "LsEntry ls ls_dirs",
    "s3vault.ops.metrics": "MetricsTarget publish_metrics:publish",
    "s3vault.ops.mount": "MountOptions MountResult mount",
    "s3vault.ops.profiles": "Profile config_path load_profile profile_names",
    "s3vault.ops.prune": "PruneResult lease_for prune",
    "s3vault.ops.repair": (
        "RepairIndexResult RepairSnapshotsOptions RepairSnapshotsResult "
        "SnapshotRepairReport repair_index repair_snapshots"
    ),
    "s3vault.ops.repairpacks": "RepairPacksOptions RepairPacksResult repair_packs",
    "s3vault.ops.report": "ReportOptions ReportResult is_report report",
    "s3vault.ops.restore": "RestoreOptions RestoreResult restore",
    "s3vault.ops.rewrite": "RewriteOptions RewriteResult SnapshotRewrite rewrite",
    "s3vault.ops.session": "RepoOptions open_repository",
    "s3vault.ops.snapshots": (
        "SnapshotEntry SnapshotFilter SnapshotGroup group_snapshots snapshot_entry snapshots"
    ),
    "s3vault.ops.stats": "HostStats Stats stats",
    "s3vault.ops.tag": "TagChange TagOptions TagResult tag",
    "s3vault.ops.unlock": "UnlockResult unlock",
    "s3vault.ops.verify": "Coverage VerifyOptions VerifyResult verify",
    "s3vault.ops.verify_putonly": "PutOnlyVerifyResult StructureCheck verify_put_only",
    "s3vault.outfile": "cannot_write output_file write_output",
    "s3vault.progress": "NullProgress Progress",
    "s3vault.repository.lease": "LeaseSettings",
    "s3vault.repository.putrepo": "PutOnlyRepository",
    "s3vault.repository.repository": "Repository RepositorySettings",
    "s3vault.tags": "TagList flatten split_tags tag_lists",
    "s3vault.workerpool": "most_workers",
}
if _typing.TYPE_CHECKING:  # what type checkers see: the same names, imported at once
    from s3vault.backend.location import BackendOptions
    from s3vault.checker.packsalvage import PackSalvage
    from s3vault.clock import Clock, ManualClock, SystemClock
    from s3vault.cloud.check import OK, WARNING, WRONG, Check
    from s3vault.cloud.cost import (
        NETWORK_PATHS,
        Estimate,
        FleetPlan,
        LineItem,
        Pricing,
        Usage,
        estimate,
        load_prices,
    )
    from s3vault.cloud.iam import ROLES as IAM_ROLES
    from s3vault.crashpoint import crash_point
    from s3vault.crypto.recovery import decode as decode_recovery_key
    from s3vault.errors import (
        ARCHIVED,
        AccessDeniedError,
        BackendError,
        BackendUnavailableError,
        ExitCode,
        FormatVersionError,
        IntegrityError,
        KeyError_,
        LeaseHeldError,
        LeaseLostError,
        MountError,
        NoKeyError,
        NoPasswordError,
        NotAnObjectError,
        NotARepositoryError,
        ObjectNotFoundError,
        PutOnlyKeyError,
        ReportError,
        RepositoryNotFoundError,
        RestoreError,
        S3VaultError,
        TransientBackendError,
        UsageError,
        WrongPasswordError,
        out_of_memory_message,
        worst_exit_code,
    )
    from s3vault.format.codec import readable
    from s3vault.format.drillfile import DrillFile
    from s3vault.format.tree import Node, NodeType
    from s3vault.ids import ObjectId, is_hex
    from s3vault.maintenance.prune import PruneOptions
    from s3vault.maintenance.retention import KeepDuration, Policy
    from s3vault.ops import routine
    from s3vault.ops.alarms import AlarmOutcome, SetupAlarmsOptions, SetupAlarmsResult, setup_alarms
    from s3vault.ops.audit import (
        AuditNote,
        AuditReport,
        Invocation,
        audit_log,
        audited,
        invocation,
        measured,
    )
    from s3vault.ops.audit_setup import AuditItem, SetupAuditOptions, SetupAuditResult, setup_audit
    from s3vault.ops.backup import BackupOptions, BackupResult, backup
    from s3vault.ops.backup_putonly import backup_put_only, open_put_only_repository
    from s3vault.ops.bucket import SetupBucketOptions, SetupBucketResult, setup_bucket
    from s3vault.ops.cache import (
        DEFAULT_MAX_AGE_DAYS,
        CacheEntry,
        CacheOptions,
        CacheResult,
        cache,
    )
    from s3vault.ops.cat import CAT_KINDS, NEEDS_INDEX, CatOptions, CatResult, cat
    from s3vault.ops.copy import CopyOptions, CopyResult, copy
    from s3vault.ops.cost import CostOptions, cost, measure_usage, plan_cost
    from s3vault.ops.diff import (
        BlobTally,
        Change,
        DiffSide,
        DiffStatistics,
        DiffStats,
        SideCounts,
        diff,
        resolve_pair,
    )
    from s3vault.ops.doctor import DoctorOptions, DoctorResult, doctor
    from s3vault.ops.drill import DrillOptions, DrillResult, drill_history, restore_test
    from s3vault.ops.dump import DumpOptions, DumpResult, dump
    from s3vault.ops.find import (
        FindIdsOptions,
        FindIdsResult,
        FindOptions,
        FindResult,
        IdMatch,
        Wanted,
        find,
        find_ids,
        wanted,
    )
    from s3vault.ops.fleet import CoveragePoint, FleetOptions, FleetResult, LedgerFigures, fleet
    from s3vault.ops.fleetrows import DrillPoint, HostRow, SnapshotPoint
    from s3vault.ops.forget import ForgetOptions, ForgetResult, forget, split_group_by
    from s3vault.ops.iam import iam_policy
    from s3vault.ops.init import InitOptions, InitResult, init, object_lock_policy
    from s3vault.ops.keys import (
        EpochEntry,
        KeyEntry,
        RotateResult,
        add_key,
        add_kms_key,
        add_recovery_key,
        change_password,
        list_epochs,
        list_keys,
        remove_key,
        rotate_master,
        sync_keys,
    )
    from s3vault.ops.keys_putonly import add_put_only_key, pin_check
    from s3vault.ops.listing import LISTABLE, list_objects
    from s3vault.ops.ls import LsEntry, ls, ls_dirs
    from s3vault.ops.metrics import MetricsTarget
    from s3vault.ops.metrics import publish as publish_metrics
    from s3vault.ops.mount import MountOptions, MountResult, mount
    from s3vault.ops.profiles import Profile, config_path, load_profile, profile_names
    from s3vault.ops.prune import PruneResult, lease_for, prune
    from s3vault.ops.repair import (
        RepairIndexResult,
        RepairSnapshotsOptions,
        RepairSnapshotsResult,
        SnapshotRepairReport,
        repair_index,
        repair_snapshots,
    )
    from s3vault.ops.repairpacks import RepairPacksOptions, RepairPacksResult, repair_packs
    from s3vault.ops.report import ReportOptions, ReportResult, is_report, report
    from s3vault.ops.restore import RestoreOptions, RestoreResult, restore
    from s3vault.ops.rewrite import RewriteOptions, RewriteResult, SnapshotRewrite, rewrite
    from s3vault.ops.session import RepoOptions, open_repository
    from s3vault.ops.snapshots import (
        SnapshotEntry,
        SnapshotFilter,
        SnapshotGroup,
        group_snapshots,
        snapshot_entry,
        snapshots,
    )
    from s3vault.ops.stats import HostStats, Stats, stats
    from s3vault.ops.tag import TagChange, TagOptions, TagResult, tag
    from s3vault.ops.unlock import UnlockResult, unlock
    from s3vault.ops.verify import Coverage, VerifyOptions, VerifyResult, verify
    from s3vault.ops.verify_putonly import PutOnlyVerifyResult, StructureCheck, verify_put_only
    from s3vault.outfile import cannot_write, output_file, write_output
    from s3vault.progress import NullProgress, Progress
    from s3vault.repository.lease import LeaseSettings
    from s3vault.repository.putrepo import PutOnlyRepository
    from s3vault.repository.repository import Repository, RepositorySettings
    from s3vault.tags import TagList, flatten, split_tags, tag_lists
    from s3vault.workerpool import most_workers

__all__ = [
    "__version__",
    # operations
    "init",
    "open_repository",
    "backup",
    "restore",
    "dump",
    "DumpOptions",
    "DumpResult",
    "mount",
    "MountOptions",
    "MountResult",
    "snapshots",
    "group_snapshots",
    "SnapshotGroup",
    "ls",
    "ls_dirs",
    "list_objects",
    "LISTABLE",
    "cache",
    "CacheOptions",
    "CacheResult",
    "CacheEntry",
    "DEFAULT_MAX_AGE_DAYS",
    "cat",
    "CatOptions",
    "CatResult",
    "CAT_KINDS",
    "NEEDS_INDEX",
    "find",
    "find_ids",
    "wanted",
    "diff",
    "resolve_pair",
    "verify",
    "repair_index",
    "repair_packs",
    "repair_snapshots",
    "tag",
    "rewrite",
    "restore_test",
    "drill_history",
    "forget",
    "prune",
    "unlock",
    "copy",
    "stats",
    "fleet",
    "FleetOptions",
    "FleetResult",
    "HostRow",
    "SnapshotPoint",
    "DrillPoint",
    "LedgerFigures",
    "CoveragePoint",
    "report",
    "is_report",
    "ReportOptions",
    "ReportResult",
    "list_keys",
    "pin_check",
    "add_put_only_key",
    "list_epochs",
    "add_key",
    "add_recovery_key",
    "add_kms_key",
    "change_password",
    "remove_key",
    "rotate_master",
    "sync_keys",
    "audit_log",
    "setup_bucket",
    "setup_alarms",
    "setup_audit",
    "doctor",
    "cost",
    "measure_usage",
    "estimate",
    "load_prices",
    "plan_cost",
    "iam_policy",
    # the crash-safety tests' hook (design.md §10): nothing unless S3VAULT_TEST_* says so
    "crash_point",
    # rules the command line applies to its options
    "object_lock_policy",
    "lease_for",
    "split_group_by",
    "decode_recovery_key",
    # configuration profiles
    "Profile",
    "config_path",
    "load_profile",
    "profile_names",
    # audit records and metrics of a run
    "invocation",
    "Invocation",
    "audited",
    "AuditNote",
    "measured",
    "MetricsTarget",
    "publish_metrics",
    # records
    "RepoOptions",
    "BackendOptions",
    "InitOptions",
    "InitResult",
    "RepositorySettings",
    "BackupOptions",
    "BackupResult",
    "Coverage",
    "VerifyOptions",
    "VerifyResult",
    "PackSalvage",
    "RepairIndexResult",
    "RepairPacksOptions",
    "RepairPacksResult",
    "RepairSnapshotsOptions",
    "RepairSnapshotsResult",
    "SnapshotRepairReport",
    "TagOptions",
    "TagResult",
    "TagChange",
    "RewriteOptions",
    "RewriteResult",
    "SnapshotRewrite",
    "DrillOptions",
    "DrillResult",
    "DrillFile",
    "readable",
    "RestoreOptions",
    "RestoreResult",
    "SnapshotFilter",
    "SnapshotEntry",
    "snapshot_entry",
    "LsEntry",
    "Node",
    "NodeType",
    "FindOptions",
    "FindResult",
    "FindIdsOptions",
    "FindIdsResult",
    "IdMatch",
    "Wanted",
    "Change",
    "DiffSide",
    "DiffStats",
    "DiffStatistics",
    "BlobTally",
    "SideCounts",
    "Policy",
    "KeepDuration",
    "ForgetOptions",
    "ForgetResult",
    "PruneOptions",
    "PruneResult",
    "LeaseSettings",
    "UnlockResult",
    "CopyOptions",
    "CopyResult",
    "Stats",
    "HostStats",
    "KeyEntry",
    "EpochEntry",
    "RotateResult",
    "AuditReport",
    "SetupBucketOptions",
    "SetupBucketResult",
    "SetupAlarmsOptions",
    "SetupAlarmsResult",
    "AlarmOutcome",
    "SetupAuditOptions",
    "SetupAuditResult",
    "AuditItem",
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
    "FleetPlan",
    "Pricing",
    "NETWORK_PATHS",
    "IAM_ROLES",
    "Repository",
    "ObjectId",
    "is_hex",
    "TagList",
    "split_tags",
    "tag_lists",
    "flatten",
    "cannot_write",
    "output_file",
    "write_output",
    "most_workers",
    # time and progress
    "Clock",
    "SystemClock",
    "ManualClock",
    "Progress",
    "NullProgress",
    # errors
    "ExitCode",
    "worst_exit_code",
    "out_of_memory_message",
    "routine",
    "S3VaultError",
    "UsageError",
    "AccessDeniedError",
    "NoKeyError",
    "NoPasswordError",
    "PutOnlyKeyError",
    "backup_put_only",
    "open_put_only_repository",
    "PutOnlyRepository",
    "verify_put_only",
    "PutOnlyVerifyResult",
    "StructureCheck",
    "RepositoryNotFoundError",
    "WrongPasswordError",
    "IntegrityError",
    "MountError",
    "ReportError",
    "ARCHIVED",
    "KeyError_",
    "NotARepositoryError",
    "NotAnObjectError",
    "LeaseHeldError",
    "LeaseLostError",
    "BackendError",
    "BackendUnavailableError",
    "TransientBackendError",
    "ObjectNotFoundError",
    "FormatVersionError",
    "RestoreError",
]

if not _typing.TYPE_CHECKING:  # hidden from type checkers, which see the imports above
    _EXPORTS = {  # name → (module, attribute)
        name: (module, own or name)
        for module, names in _BY_MODULE.items()
        for name, _, own in (entry.partition(":") for entry in names.split())
    }

    def __getattr__(name: str) -> object:
        """An exported name, imported on first use and kept (later uses are plain lookups)."""
        try:
            module, attribute = _EXPORTS[name]
        except KeyError:
            raise AttributeError(f"module 's3vault' has no attribute {name!r}") from None
        owner = _importlib.import_module(module)
        try:
            value = getattr(owner, attribute)
        except AttributeError:  # a submodule (s3vault.ops.routine)
            value = _importlib.import_module(f"{module}.{attribute}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(_EXPORTS))
