"""build_stack: THE place backend wrappers are composed. Outermost first:

    Retry → RateLimited → Accounting → raw

Retry sits outside so every real request, including each retried one, is counted and
throttled. (Dry-run wrapping happens per operation, in ops/backup.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.backend.accounting import AccountingBackend
from s3vault.backend.base import Backend
from s3vault.backend.location import BackendOptions, open_backend
from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket
from s3vault.backend.retry import RetryBackend


@dataclass(frozen=True, slots=True)
class BackendStack:
    """The composed backend and handles on the wrappers whose state callers report."""

    backend: Backend
    accounting: AccountingBackend
    retry: RetryBackend


def build_stack(raw: Backend, options: BackendOptions | None = None) -> BackendStack:
    """Wrap a raw backend with retry, rate limits and accounting."""
    options = options or BackendOptions()
    accounting = AccountingBackend(raw)
    inner: Backend = accounting
    if options.limit_upload or options.limit_download:
        inner = RateLimitedBackend(
            accounting,
            upload=TokenBucket(options.limit_upload * 1024) if options.limit_upload else None,
            download=TokenBucket(options.limit_download * 1024) if options.limit_download else None,
        )
    retry = RetryBackend(inner, deadline=options.retry_deadline)
    return BackendStack(backend=retry, accounting=accounting, retry=retry)


def stack_for(url: str, options: BackendOptions | None = None) -> BackendStack:
    """open_backend() + build_stack()."""
    return build_stack(open_backend(url, options), options)
