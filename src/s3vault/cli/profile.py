"""From a config profile (-P NAME) to the CLI context.

Precedence: defaults < config profile < environment < flags. A profile value is used only when
neither a flag nor the environment variable that means the same thing set it. The password
sources count as one setting: any password flag or environment variable wins over all of the
profile's.
"""

from __future__ import annotations

import os

from s3vault import config_path, load_profile
from s3vault.cli.context import CliContext

# profile key → (context attribute, environment variables that override the profile)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "repository": ("repo", ("S3VAULT_REPOSITORY", "S3VAULT_REPOSITORY_FILE")),
    "aws_profile": ("aws_profile", ("AWS_PROFILE",)),
    "role_arn": ("aws_role_arn", ()),
    "external_id": ("aws_external_id", ()),
    "region": ("s3_region", ("AWS_REGION", "AWS_DEFAULT_REGION")),
    "endpoint": ("s3_endpoint", ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")),
    "path_style": ("s3_path_style", ()),
    "cacert": ("cacert", ("S3VAULT_CACERT",)),
    "insecure_tls": ("insecure_tls", ()),
    "storage_class": ("s3_storage_class", ()),
    "sse": ("s3_sse", ()),
    "sse_kms_key_id": ("s3_kms_key_id", ()),
    "bucket_owner": ("s3_bucket_owner", ()),
    "connections": ("s3_connections", ()),
    "limit_upload": ("limit_upload", ()),
    "limit_download": ("limit_download", ()),
    "cache_dir": ("cache_dir", ()),
    "key_hint": ("key_hint", ("S3VAULT_KEY_HINT",)),
}
PASSWORD_FIELDS = {
    "password_file": "password_file",
    "password_command": "password_command",
    "recovery_key_file": "recovery_key_file",
    "kms": "kms",
}
PASSWORD_ENV = (
    "S3VAULT_PASSWORD",
    "S3VAULT_PASSWORD_FILE",
    "S3VAULT_PASSWORD_COMMAND",
    "S3VAULT_RECOVERY_KEY_FILE",
    "S3VAULT_KMS",
)


def apply_profile(ctx: CliContext, *, environment: bool = True) -> None:
    """Load the profile named by -P/--profile ($S3VAULT_PROFILE) once, and fill in what flags
    and (unless ``environment`` is false: a copy's target) the environment left unset.

    Raises:
        UsageError: the config file or the profile is missing or invalid.
    """
    if ctx.profile is not None and ctx.profile.name == (ctx.profile_name or ctx.profile.name):
        return
    name = ctx.profile_name or os.environ.get("S3VAULT_PROFILE")
    if not name:
        return
    profile = load_profile(name, config_path(ctx.config_file))
    ctx.profile = profile
    for key, (attr, env) in FIELDS.items():
        value, given = profile.get(key), getattr(ctx, attr)
        if value is None or (given is not None and given is not False):  # 0 too: a flag's
            continue
        if attr == "repo" and ctx.repository_file:  # the flag beats the profile's repository
            continue
        if environment and any(os.environ.get(v) for v in env):
            continue
        setattr(ctx, attr, value)
    password_given = any(getattr(ctx, a) for a in PASSWORD_FIELDS.values()) or (
        environment and any(os.environ.get(v) for v in PASSWORD_ENV)
    )
    if not password_given:
        for key, attr in PASSWORD_FIELDS.items():
            if profile.get(key) is not None:
                setattr(ctx, attr, profile.get(key))
    metrics = profile.table("metrics")
    if ctx.metrics_file is None and metrics.get("file"):
        ctx.metrics_file = str(metrics["file"])
    if ctx.cloudwatch_namespace is None and metrics.get("cloudwatch_namespace"):
        ctx.cloudwatch_namespace = str(metrics["cloudwatch_namespace"])
