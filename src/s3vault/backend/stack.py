"""build_stack: THE place backend wrappers are composed. Outermost first:

    Retry → RateLimited → Accounting → raw

Retry sits outside so every real request, including each retried one, is counted and
throttled. A backend that streams (S3) counts its own HTTP requests and throttles the bytes it
actually sends and receives (parts of a multipart upload one by one), so for it the two middle
wrappers are replaced by its own ``counts`` and ``throttle``.

The stack is opened in one place, ops/session.py ``open_repository``: it builds the stack, hands
the repository its counters and the store's Object Lock, and tells the store what the config
says of it through ``backend.capabilities`` (its probed dialect, its lock policy). A dry run
is a view of the opened repository (``Repository.dry_run``: this stack in ``DryRunBackend``).
"""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.backend.accounting import AccountingBackend, RequestCounts
from s3vault.backend.base import Backend
from s3vault.backend.location import BackendOptions, open_backend
from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket
from s3vault.backend.retry import RetryBackend


@dataclass(frozen=True, slots=True)
class BackendStack:
    """The composed backend and handles on the state callers report."""

    backend: Backend
    counts: RequestCounts
    retry: RetryBackend


def build_stack(raw: Backend, options: BackendOptions | None = None) -> BackendStack:
    """Wrap a raw backend with retry, rate limits and accounting."""
    options = options or BackendOptions()
    upload = TokenBucket(options.limit_upload * 1024) if options.limit_upload else None
    download = TokenBucket(options.limit_download * 1024) if options.limit_download else None
    inner: Backend
    streaming = raw.capabilities.streaming
    if streaming is not None:
        streaming.throttle(upload, download)
        inner, counts = raw, streaming.counts
    else:
        accounting = AccountingBackend(raw)
        inner, counts = accounting, accounting.counts
        if upload or download:
            inner = RateLimitedBackend(accounting, upload=upload, download=download)
    retry = RetryBackend(inner, deadline=options.retry_deadline, progress=options.waits)
    return BackendStack(backend=retry, counts=counts, retry=retry)


def stack_for(url: str, options: BackendOptions | None = None) -> BackendStack:
    """open_backend() + build_stack()."""
    return build_stack(open_backend(url, options), options)
