"""botocore reads and parses its service models (JSON files of up to a few MB: S3's, STS's,
the endpoint rules) again for every new session, since each session has its own ``Loader``
and a loader caches only for itself. The suite makes thousands of sessions that read the
same unchanged files: the pytest workers (fixtures, library tests, moto), the CLI fork server
(tests/cliserver.py) and the campaign runner (tests/campaign/runner.py). A profile of a whole
run (py-spy) found the workers alone spending about 50 s of CPU in that JSON parsing.

``share_parsed_models`` makes every Loader of the process use one cache. The parsed data is
the same as each loader would have read; what s3vault does with it is unchanged."""

from __future__ import annotations

_shared: dict[object, object] | None = None


def share_parsed_models() -> None:
    """Every botocore Loader made from now on in this process shares one cache (idempotent)."""
    global _shared  # noqa: PLW0603 - one cache per process
    if _shared is not None:
        return
    from botocore import loaders

    shared: dict[object, object] = {}
    original_init = loaders.Loader.__init__

    def init(self: loaders.Loader, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        self._cache = shared

    loaders.Loader.__init__ = init  # type: ignore[method-assign, unused-ignore]
    _shared = shared
