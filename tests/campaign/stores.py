"""Where a campaign case's repository lives: a local directory (a copy of the template's) or a
fresh prefix on the moto S3 server over TLS (the template's objects uploaded into it). Both
give a URL for ``-r`` and read, write and delete single objects for the mutations."""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from s3vault import InitOptions, RepoOptions, init
from s3vault.backend.location import BackendOptions


class Store(Protocol):
    """A place for case repositories."""

    name: str

    def env(self) -> dict[str, str]:
        """Environment the CLI needs to reach the store."""
        ...

    def template_url(self, base: Path) -> str:
        """Where the template is built."""
        ...

    def init_repository(self, options: RepoOptions, init_options: InitOptions) -> object:
        """Create a repository (the library's init, with the store's settings)."""
        ...

    def list_objects(self, url: str) -> dict[str, bytes]:
        """Every object of the repository at ``url``, by name."""
        ...

    def materialise(self, objects: dict[str, bytes], template_url: str, case_dir: Path) -> str:
        """A fresh repository holding the template's objects; its URL."""
        ...

    def read(self, url: str, name: str) -> bytes: ...

    def write(self, url: str, name: str, data: bytes) -> None: ...

    def delete(self, url: str, name: str) -> None: ...

    def discard(self, url: str) -> None:
        """Remove a case's repository."""
        ...


class LocalStore:
    """Repositories in local directories; a case gets a copy of the template's directory
    (modification times kept: prune's grace periods read them)."""

    name = "local"

    def env(self) -> dict[str, str]:
        return {}

    def template_url(self, base: Path) -> str:
        return str(base / "repo")

    def init_repository(self, options: RepoOptions, init_options: InitOptions) -> object:
        return init(options, init_options)

    def list_objects(self, url: str) -> dict[str, bytes]:
        root = Path(url)
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }

    def materialise(self, objects: dict[str, bytes], template_url: str, case_dir: Path) -> str:
        del objects
        target = case_dir / "repo"
        shutil.copytree(template_url, target)
        return str(target)

    def read(self, url: str, name: str) -> bytes:
        return Path(url, name).read_bytes()

    def write(self, url: str, name: str, data: bytes) -> None:
        Path(url, name).write_bytes(data)

    def delete(self, url: str, name: str) -> None:
        Path(url, name).unlink()

    def discard(self, url: str) -> None:
        shutil.rmtree(url, ignore_errors=True)


class S3Store:
    """Repositories under prefixes of one bucket on the https moto server."""

    name = "s3"
    bucket = "campaign"

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.endpoint = endpoint
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def ensure_bucket(self) -> None:
        """Create the bucket unless it is there (another test may have reset the server)."""
        names = {b["Name"] for b in self.client.list_buckets().get("Buckets", [])}
        if self.bucket not in names:
            self.client.create_bucket(Bucket=self.bucket)

    def env(self) -> dict[str, str]:
        env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        if "AWS_CA_BUNDLE" in os.environ:  # the session's test CA (tests/s3server.py)
            env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
        return env

    def template_url(self, base: Path) -> str:
        del base
        self.ensure_bucket()
        return f"s3://{self.bucket}/template-{uuid.uuid4().hex[:8]}"

    def init_repository(self, options: RepoOptions, init_options: InitOptions) -> object:
        import pytest

        with pytest.MonkeyPatch.context() as patch:  # boto3 in this process reads these
            for key, value in self.env().items():
                patch.setenv(key, value)
            options = RepoOptions(
                url=options.url,
                password=options.password,
                backend=BackendOptions(s3_endpoint=self.endpoint),
            )
            return init(options, init_options)

    def _split(self, url: str) -> str:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        assert bucket == self.bucket
        return prefix

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix + "/"
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def list_objects(self, url: str) -> dict[str, bytes]:
        prefix = self._split(url)
        keys = self._keys(prefix)
        with ThreadPoolExecutor(8) as pool:
            bodies = pool.map(
                lambda k: self.client.get_object(Bucket=self.bucket, Key=k)["Body"].read(), keys
            )
            return {k.removeprefix(prefix + "/"): b for k, b in zip(keys, bodies, strict=True)}

    def materialise(self, objects: dict[str, bytes], template_url: str, case_dir: Path) -> str:
        del template_url
        self.ensure_bucket()
        prefix = f"{case_dir.name}-{uuid.uuid4().hex[:8]}"
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: self.client.put_object(
                        Bucket=self.bucket, Key=f"{prefix}/{item[0]}", Body=item[1]
                    ),
                    objects.items(),
                )
            )
        return f"s3://{self.bucket}/{prefix}"

    def read(self, url: str, name: str) -> bytes:
        key = f"{self._split(url)}/{name}"
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def write(self, url: str, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self._split(url)}/{name}", Body=data)

    def delete(self, url: str, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self._split(url)}/{name}")

    def discard(self, url: str) -> None:
        keys = self._keys(self._split(url))
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
