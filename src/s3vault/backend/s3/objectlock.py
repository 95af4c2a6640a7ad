"""Object Lock on S3 (the policy and its rules: backend/objectlock.py): the retain-until date
of each object this process created, read or extended, the create arguments that lock a new
object, extensions by PutObjectRetention (never shortening one), and the DeleteObjects entries
that delete by version id. The S3 store's object lock capability (backend/capabilities.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from s3vault.backend.objectlock import UNLOCKED_PREFIXES, VERSION_DELETED, LockPolicy
from s3vault.backend.s3.client import Connection
from s3vault.backend.s3.errors import translate
from s3vault.clock import SystemClock
from s3vault.errors import ObjectNotFoundError


class S3ObjectLock:
    """Retain-until dates of one store's objects, and the requests that read and extend them.
    Locks nothing until a policy is adopted. Thread-safe."""

    def __init__(
        self, conn: Connection, parts: ThreadPoolExecutor, server_time: Callable[[], float]
    ) -> None:
        self._conn = conn
        self._pool = parts
        self._server_time = server_time
        self._policy: LockPolicy | None = None
        self._known: dict[str, tuple[float, str]] = {}  # name → (retain-until, version)
        self._lock = threading.Lock()

    def adopt_lock(self, policy: LockPolicy) -> None:
        """Lock every object created from now on under ``policy``."""
        self._policy = policy

    def deletes_by_version(self, name: str) -> bool:
        """Under a policy, content-addressed objects are deleted by version id."""
        return self._policy is not None and name.startswith(VERSION_DELETED)

    def create_args(self, name: str) -> dict[str, Any]:
        """The arguments that lock a new object (none without a policy, or for the objects
        that are rewritten or removed within minutes); its retain-until is remembered."""
        if self._policy is None or name.startswith(UNLOCKED_PREFIXES):
            return {}
        until = SystemClock().now() + timedelta(seconds=self._policy.duration)
        with self._lock:
            self._known[name] = (until.timestamp(), "")
        return {"ObjectLockMode": self._policy.mode, "ObjectLockRetainUntilDate": until}

    def delete_targets(self, names: Sequence[str]) -> list[dict[str, str]]:
        """DeleteObjects entries. Under Object Lock, content-addressed objects are deleted by
        version id (so the space is freed and a locked version is refused by the store);
        objects that are overwritten (keys, config) get a delete marker, which hides every
        version of them."""
        out: list[dict[str, str]] = []
        for name in names:
            if not self.deletes_by_version(name):
                out.append({"Key": self._conn.key(name)})
                continue
            with self._lock:
                version = self._known.get(name, (0.0, ""))[1]
            if not version:
                found = self._head(name)
                if found is None:
                    continue  # gone already
                version = found[1]
            target = {"Key": self._conn.key(name)}
            if version:
                target["VersionId"] = version
            out.append(target)
        return out

    def _head(self, name: str) -> tuple[float, str] | None:
        key = self._conn.key(name)
        try:
            head = self._conn.call(
                "head_object", Bucket=self._conn.bucket, Key=key, **self._conn.owner()
            )
        except Exception as exc:
            error = translate(exc, "head", key)
            if isinstance(error, ObjectNotFoundError):
                return None
            raise error from None
        until = head.get("ObjectLockRetainUntilDate")
        found = (until.timestamp() if until else 0.0, str(head.get("VersionId") or ""))
        with self._lock:
            self._known[name] = found
        return found

    def retained_until(self, names: Sequence[str]) -> dict[str, float]:
        """HEAD each object: those whose retain-until is still ahead (store clock)."""
        if not names:
            return {}
        now = self._server_time()
        found = list(self._pool.map(self._head, names))
        return {n: f[0] for n, f in zip(names, found, strict=True) if f and f[0] > now}

    def extend_locks(self, names: Sequence[str], until: float) -> int:
        """PutObjectRetention for the objects known to be locked for less than ``until``
        (unknown ones included): they get ``until`` plus the policy's margin."""
        policy = self._policy
        if policy is None:
            return 0
        with self._lock:
            todo = [
                n
                for n in names
                if not n.startswith(UNLOCKED_PREFIXES) and self._known.get(n, (0.0, ""))[0] < until
            ]
        target = datetime.fromtimestamp(until + policy.margin, UTC)

        def extend(name: str) -> None:
            key = self._conn.key(name)
            try:
                self._conn.call(
                    "put_object_retention",
                    Bucket=self._conn.bucket,
                    Key=key,
                    Retention={"Mode": policy.mode, "RetainUntilDate": target},
                    **self._conn.owner(),
                )
            except Exception as exc:
                # Never shortened: a retain-until already later (set by another host) is fine.
                found = self._head(name)
                if found is None or found[0] < until:
                    raise translate(exc, "extend lock", key) from None
                return
            with self._lock:
                old = self._known.get(name, (0.0, ""))
                self._known[name] = (target.timestamp(), old[1])

        list(self._pool.map(extend, todo))
        return len(todo)

    def known_locks(self) -> dict[str, float]:
        """Every retain-until this process wrote or read (to keep across runs)."""
        with self._lock:
            return {n: u for n, (u, _) in self._known.items()}

    def remember_locks(self, known: dict[str, float]) -> None:
        """Retain-until times learnt by earlier runs on this host."""
        with self._lock:
            for name, until in known.items():
                if name not in self._known:
                    self._known[name] = (until, "")
