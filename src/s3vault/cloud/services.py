"""AWS clients for the account administration of cloud/ (trail.py, configrules.py,
guardduty.py): the repository's session (AWS profile, assumed role), a region, and one
translation of botocore's errors into s3vault's.

The endpoint is boto3's: AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL when set (the tests
point them at a moto server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.config
import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.errors import BackendError, TransientBackendError


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """Who the credentials are: the account id and the partition (``aws``, ``aws-cn``...)."""

    id: str
    partition: str


class Clients:
    """One boto3 session and its clients, made on first use, per service and region."""

    def __init__(self, options: BackendOptions) -> None:
        self._options = options
        self._session = aws_session(
            options.aws_profile, options.aws_role_arn, options.aws_external_id
        )
        self._clients: dict[tuple[str, str, int], Any] = {}

    @property
    def region(self) -> str:
        """The repository's region (--s3-region, else the AWS configuration, else us-east-1)."""
        return self._options.s3_region or self._session.region_name or "us-east-1"

    def get(self, service: str, region: str | None = None, *, attempts: int = 5) -> Any:
        """A client of ``service`` in ``region`` (default: the repository's), retrying a
        throttled or failed request up to ``attempts`` times in all."""
        where = region or self.region
        if (service, where, attempts) not in self._clients:
            self._clients[service, where, attempts] = self._session.client(
                service,
                region_name=where,
                verify=self._options.s3_verify_tls,
                config=botocore.config.Config(
                    retries={"mode": "standard", "max_attempts": attempts}
                ),
            )
        return self._clients[service, where, attempts]

    def account(self) -> Account:
        """The caller's account (STS GetCallerIdentity).

        Raises:
            BackendError: STS refused or is unreachable.
        """
        with aws_errors("sts GetCallerIdentity"):
            me = self.get("sts").get_caller_identity()
        return Account(id=str(me["Account"]), partition=str(me["Arn"]).split(":")[1])


def error_code(exc: botocore.exceptions.ClientError) -> str:
    """The error code of an AWS answer."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Translate botocore's errors of ``what`` into BackendError (TransientBackendError when
    the service is unreachable or throttles), naming it.

    Raises:
        BackendError: AWS refused.
        TransientBackendError: AWS is unreachable, failing or throttling.
    """
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        msg = f"{what}: {error.get('Code', '')}: {error.get('Message', '')}".rstrip(": ")
        if status >= 500 or error.get("Code") in ("ThrottlingException", "Throttling"):
            raise TransientBackendError(msg) from None
        raise BackendError(msg) from None
    except botocore.exceptions.NoCredentialsError:
        raise BackendError(f"{what}: no AWS credentials") from None
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise TransientBackendError(f"{what}: {exc}") from None
