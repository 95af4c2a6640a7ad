"""Configuration profiles (docs/config.md): named sets of options in a TOML file.

The file is ``--config FILE`` ($S3VAULT_CONFIG), else the user's
``$XDG_CONFIG_HOME/s3vault/config.toml`` (``~/.config/s3vault/config.toml``) if it exists, else
``/etc/s3vault/config.toml`` (one file, never merged). Profiles live under
``[profiles.NAME]`` and may ``inherit`` another (nested tables are merged key by key, the child
winning). Unknown keys are
refused (a typo must not silently drop a setting), and so are inline secrets: a password comes
from ``password_file``, ``password_command`` or the environment, never from the file itself.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3vault.errors import UsageError

SYSTEM_CONFIG = Path("/etc/s3vault/config.toml")

SCALARS: dict[str, type] = {
    "repository": str,
    "password_file": str,
    "password_command": str,
    "recovery_key_file": str,
    "kms": bool,
    "key_hint": str,
    "aws_profile": str,
    "role_arn": str,
    "external_id": str,
    "region": str,
    "endpoint": str,
    "path_style": bool,
    "cacert": str,
    "insecure_tls": bool,
    "storage_class": str,
    "sse": str,
    "sse_kms_key_id": str,
    "bucket_owner": str,
    "connections": int,
    "limit_upload": int,
    "limit_download": int,
    "cache_dir": str,
    "host": str,
    "one_file_system": bool,
    "exclude_caches": bool,
    "exclude_larger_than": str,
    "ignore_ctime": bool,
    "ignore_inode": bool,
    "with_atime": bool,
}
LISTS = {
    "paths",
    "excludes",
    "exclude_files",
    "tags",
    "files_from",
    "files_from_verbatim",
    "files_from_raw",
    "iexcludes",
    "iexclude_files",
    "exclude_if_present",
}
TABLES: dict[str, dict[str, type]] = {
    "retention": {
        "keep_last": int,
        "keep_hourly": int,
        "keep_daily": int,
        "keep_weekly": int,
        "keep_monthly": int,
        "keep_yearly": int,
        "keep_within": str,
        "keep_within_hourly": str,
        "keep_within_daily": str,
        "keep_within_weekly": str,
        "keep_within_monthly": str,
        "keep_within_yearly": str,
        "keep_tags": list,
        "group_by": str,
        "prune": bool,
    },
    "verify": {"read_data_subset": str},
    "restore_test": {"sample": int, "sample_percent": float, "rto_target": str, "rpo_target": str},
    "metrics": {"file": str, "cloudwatch_namespace": str},
    "hooks": {"before": str, "after": str, "on_failure": str},
    "bucket": {
        "maintenance_roles": list,
        "kms_roles": list,
        "source_vpces": list,
        "source_vpcs": list,
    },
    "cost": {
        "network": str,
        "azs": int,
        "region": str,
        "replica_region": str,
        "sse_kms": bool,
        "bucket_key": bool,
    },
    "fleet": {"expect": dict},  # host glob → expected backup interval (fleet, report)
}
SECRETS = {"password", "aws_secret_access_key", "secret_key", "recovery_key"}
# the ranges of the flags these keys stand for (--s3-connections, --limit-upload/download):
# a profile's value is held to them as the flag's is (connections = 100000000 made a pool of
# 2 × 10^8 connections and hung the command)
RANGES: dict[str, tuple[int, int]] = {
    "connections": (1, 256),
    "limit_upload": (0, 1 << 40),  # 0: no limit, as restic's
    "limit_download": (0, 1 << 40),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One resolved profile (inheritance applied)."""

    name: str
    source: Path
    values: dict[str, Any] = field(default_factory=dict)  # SCALARS and LISTS
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # TABLES

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level setting."""
        return self.values.get(key, default)

    def table(self, name: str) -> dict[str, Any]:
        """A section (retention, verify, restore_test, metrics, hooks); empty if absent."""
        return self.tables.get(name, {})


def config_path(explicit: str | None) -> Path | None:
    """The config file in effect, or None."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("S3VAULT_CONFIG")
    if env:
        return Path(env)
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "s3vault"
    for candidate in (xdg / "config.toml", SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def _in_range(value: Any, low: int, high: int) -> bool:
    return bool(low <= value <= high)


def _check(name: str, raw: dict[str, Any], source: Path) -> None:
    where = f"{source}: profile {name!r}"
    for key, value in raw.items():
        if key in SECRETS:
            msg = (
                f"{where}: {key!r} inline is not allowed: use password_file, password_command "
                "or the environment (S3VAULT_PASSWORD)"
            )
            raise UsageError(msg)
        if key == "inherit":
            continue
        if key in SCALARS:
            kind = SCALARS[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise UsageError(f"{where}: {key} must be a {kind.__name__}")
            if key in RANGES and not _in_range(value, *RANGES[key]):
                low, high = RANGES[key]
                raise UsageError(f"{where}: {key} must be from {low} to {high}, not {value}")
        elif key in LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{where}: {key} must be a list of strings")
        elif key in TABLES:
            _check_table(where, key, value)
        else:
            raise UsageError(f"{where}: unknown key {key!r}")


def load_profile(name: str, path: Path | None) -> Profile:
    """Read the config file and resolve one profile.

    Raises:
        UsageError: no config file, unreadable or invalid TOML, no such profile, an inheritance
            loop, an unknown key or an inline secret.
    """
    if path is None:
        msg = (
            f"profile {name!r}: no config file (use --config FILE, S3VAULT_CONFIG, "
            f"~/.config/s3vault/config.toml or {SYSTEM_CONFIG})"
        )
        raise UsageError(msg)
    profiles = _profiles_of(path)  # every profile checked, every inheritance resolved
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise UsageError(f"{path}: no profile {name!r} (profiles: {known})")
    chain = _chain(name, profiles, path)
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for ancestor in reversed(chain):  # the root first, the named profile last
        own = profiles[ancestor]
        if len(PASSWORD_SOURCES & set(own)) > 1:
            given = " and ".join(sorted(PASSWORD_SOURCES & set(own)))
            raise UsageError(f"{path}: profile {ancestor!r} sets {given}: give one")
        if PASSWORD_SOURCES & set(own):  # the child's source replaces the parent's, whichever
            for other in PASSWORD_SOURCES:
                values.pop(other, None)
        for key, value in own.items():
            if key in TABLES:
                tables.setdefault(key, {}).update(value)
            elif key != "inherit":
                values[key] = value
    return Profile(name=name, source=path, values=values, tables=tables)


# where the password comes from: one source, which a child profile replaces as a whole (its
# password_command with its parent's password_file was "both say where the password is")
PASSWORD_SOURCES = frozenset({"password_file", "password_command"})


def _check_table(where: str, key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: [{key}] must be a table")
    unknown = sorted(set(value) - set(TABLES[key]))
    if unknown:
        raise UsageError(f"{where}: unknown keys in [{key}]: {', '.join(unknown)}")
    for inner, kind in TABLES[key].items():  # `prune = "false"` pruned
        if inner in value and not _is_a(value[inner], kind):
            raise UsageError(f"{where}: {key}.{inner} must be {_A[kind]}")


def _is_a(value: Any, kind: type) -> bool:
    """TOML's types as a table's keys take them: a bool is no number, an integer is a float,
    a list holds strings."""
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is dict:  # [fleet] expect: host glob → interval, both text
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, kind) or (kind is float and isinstance(value, int))


_A = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list of strings",
    dict: "a table of strings",
}


def _profiles_of(path: Path) -> dict[str, Any]:
    """The file's profiles, every one of them checked (not only the one in use: a typo at the
    top, `metrics_file = ...`, or an inline password in another profile was accepted without
    a word).

    Raises:
        UsageError: unreadable, invalid TOML, a key outside [profiles], or a bad profile.
    """
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"config file {path} is not UTF-8 text (line {line})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise UsageError(f"{path}: [profiles] must be a table of profiles")
    stray = sorted(set(data) - {"profiles"})
    if stray:
        msg = f"{path}: unknown key {stray[0]!r} at the top (settings go in [profiles.NAME])"
        raise UsageError(msg)
    for other, raw in profiles.items():
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: profile {other!r} must be a table ([profiles.{other}])")
        _check(other, raw, path)
        parent = raw.get("inherit")
        if parent is not None and (not isinstance(parent, str) or parent not in profiles):
            known = ", ".join(sorted(profiles))
            msg = f"{path}: profile {other!r} inherits {parent!r}, no profile (profiles: {known})"
            raise UsageError(msg)
    for other in profiles:
        _chain(other, profiles, path)
    return profiles


def _chain(name: str, profiles: dict[str, Any], path: Path) -> list[str]:
    """A profile and the ones it inherits from, nearest first.

    Raises:
        UsageError: they inherit in a loop.
    """
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            loop = " -> ".join([*chain, current])
            raise UsageError(f"{path}: profiles inherit in a loop: {loop}")
        chain.append(current)
        parent = profiles[current].get("inherit")
        current = str(parent) if parent is not None else None
    return chain


def profile_names(path: Path | None) -> list[str]:
    """The profiles a config file defines (for messages)."""
    if path is None or not path.is_file():
        return []
    try:
        return sorted(tomllib.loads(path.read_text()).get("profiles", {}))
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return []
