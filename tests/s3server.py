"""moto S3 servers on 127.0.0.1 for the tests (never a real endpoint).

The default server speaks **https** with a certificate from a CA the test session creates, so
boto3 takes the path users take against AWS, B2 or R2: over https botocore >= 1.36 sends uploads
as aws-chunked bodies with a trailing CRC32, over http it does not (../shared/S3.md §1.1).
boto3 (in the test process and in every CLI subprocess) trusts that CA through AWS_CA_BUNDLE.
One plain-http server remains for the test that keeps the http path covered.
Connections stay open from one request to the next, as on AWS (werkzeug's own server closes
each one): a TLS handshake per request cost more CPU than the request (1.9 ms of CPU per small
GET with keep-alive against 4.0 ms without, client and server together; the suite's CPU 6 %).
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import os
import selectors
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from s3vault.clock import SystemClock
from tests.motokms import install_moto_kms_fix
from tests.timetravel import install_moto_clock, moto_date_time_string

SERVER_TLS: tuple[Path, Path] | None = None  # (chain, key) once s3_ca ran: for the fault proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost signed by it.
    Returns (CA bundle, server certificate chain, server key)."""
    now = SystemClock().now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s3vault test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    bundle, chain, key_path = directory / "ca.pem", directory / "server.pem", directory / "key.pem"
    bundle.write_bytes(ca.public_bytes(pem))
    chain.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return bundle, chain, key_path


def _cache_moto_modules() -> None:
    """moto's dispatcher lists its package directory (a listdir and ~150 isdir calls) on
    every request to find the service (``backends.list_of_moto_modules``): about 15 % of the
    server's time (py-spy). The list does not change while the tests run: compute it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def cached() -> tuple[str, ...]:
        return modules

    cached.cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = cached  # type: ignore[assignment]


def _atomic_conditional_writes() -> None:
    """moto 5.2.5 checks ``If-None-Match`` / ``If-Match`` and stores the object in separate
    steps, with the body's checksums between them and no lock: a thread switch there lets
    two concurrent creates of one name both succeed. On a quiet machine that almost never
    happens (../shared/S3.md: 20 of 20 rounds atomic), on a loaded one it does: a CI-like run
    under a profiler had s3vault's probe see two winners and choose the claims protocol,
    correctly, for a store that AWS's stands in for. A conditional write here takes one lock
    for its check and its store, atomic as on AWS; other writes are unchanged."""
    import threading

    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "atomic", False):
        return
    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self: S3Response) -> object:
        if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
            with lock:
                return original(self)
        return original(self)

    put_object.atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign, assignment]


class _Body(io.RawIOBase):
    """A request's body (``Content-Length`` bytes of the connection) as the application reads
    it, so that what it left unread can be read after it: the next request on the connection
    starts where this body ends."""

    def __init__(self, raw: io.BufferedReader, length: int) -> None:
        self._raw = raw
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            return 0
        data = self._raw.read(min(len(buffer), self.left))
        if not data:
            raise ConnectionError("the client closed the connection inside a request body")
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


_REQUEST = threading.local()  # per handler thread (one per connection): is the body read?


def _keep_alive(app: Callable[..., object]) -> Callable[..., object]:
    """WSGI middleware: once the application has answered, read what it left of the request's
    body; only then may the connection carry the next request (``_Selectors``)."""

    def wrapped(environ: dict[str, object], start_response: Callable[..., object]) -> object:
        _REQUEST.whole = False
        if not environ.get("wsgi.input_terminated"):
            length = int(str(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = _Body(environ["wsgi.input"], length)  # type: ignore[arg-type]
        result = app(environ, start_response)
        stream = environ["wsgi.input"]
        while stream.read(1 << 16):  # type: ignore[attr-defined]
            pass
        _REQUEST.whole = True
        return result

    return wrapped


class _NothingLeft:
    def register(self, *_: object) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[object]:
        return []

    def close(self) -> None:
        pass


class _Selectors:
    """werkzeug.serving's ``selectors`` module as its request handler sees it. After each
    response werkzeug reads whatever the connection still holds, because it closes every
    connection; a connection kept open holds the client's next request there. Once
    ``_keep_alive`` has read the body there is nothing of this request left to read."""

    EVENT_READ = selectors.EVENT_READ

    @staticmethod
    def DefaultSelector() -> object:  # the name werkzeug calls
        if getattr(_REQUEST, "whole", False):
            return _NothingLeft()
        return selectors.DefaultSelector()


def _start(tls: tuple[Path, Path] | None) -> tuple[object, str]:
    """A moto server in a thread; werkzeug serves TLS when given a certificate and key."""
    import werkzeug.serving
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    port = free_port()
    install_moto_clock()
    install_moto_kms_fix()  # multi-region keys decrypt (tests/motokms.py)

    _cache_moto_modules()
    _atomic_conditional_writes()

    class Handler(MotoRequestHandler):
        # TCP_NODELAY on every accepted connection: werkzeug writes a response's headers and
        # its body as two small segments, Nagle holds the second until the first is acknowledged,
        # and the client acknowledges late (Linux's delayed ACK, 40 ms). Measured with boto3
        # against this server: 31.7 ms of wall per small request, 6.6 ms of it CPU; with the
        # option 5.0 ms. Real stores answer without that wait; the suite should too.
        disable_nagle_algorithm = True

        def date_time_string(self, timestamp: float | None = None) -> str:
            return moto_date_time_string(timestamp)  # the store's clock (tests/timetravel.py)

        def handle_one_request(self) -> None:
            _REQUEST.whole = False  # until _keep_alive has read this request's body
            super().handle_one_request()

        def send_header(self, keyword: str, value: str) -> None:
            """Keep the connection open (werkzeug closes every one) once the request is read
            whole, as real stores do: a new TLS connection per request cost more CPU than the
            request itself."""
            if keyword.lower() == "connection" and getattr(_REQUEST, "whole", False):
                return
            super().send_header(keyword, value)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """No line per request: werkzeug's logging of each one cost about 13 % of the
            server's time (py-spy), and pytest kept every line in memory. Errors are still
            logged (``log_error``)."""

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            self._server = make_server(
                "127.0.0.1",
                port,
                _keep_alive(DomainDispatcherApplication(create_backend_app)),
                True,
                request_handler=Handler,
                ssl_context=(str(tls[0]), str(tls[1])) if tls else None,
            )
            if tls:  # the TLS handshake in the connection's own thread, not in accept(): a
                # client that connects and never speaks TLS (plain http to this port) would
                # otherwise stop the whole server, and its shutdown, for good
                self._server.socket.do_handshake_on_connect = False  # type: ignore[attr-defined]
            self._server_ready_event.set()
            self._server.serve_forever()

    werkzeug.serving.selectors = _Selectors  # type: ignore[assignment]
    server = Server(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def s3_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """The session's CA bundle, server chain and key; boto3 trusts the CA everywhere."""
    global SERVER_TLS  # noqa: PLW0603 - one CA per test session, shared with the fault proxy
    paths = make_certificates(tmp_path_factory.mktemp("tls"))
    SERVER_TLS = (paths[1], paths[2])
    previous = os.environ.get("AWS_CA_BUNDLE")
    os.environ["AWS_CA_BUNDLE"] = str(paths[0])
    yield paths
    if previous is None:
        os.environ.pop("AWS_CA_BUNDLE", None)
    else:
        os.environ["AWS_CA_BUNDLE"] = previous


@pytest.fixture(scope="session")
def s3_server(s3_ca: tuple[Path, Path, Path]) -> Iterator[str]:
    """An https moto server for the whole session; yields its endpoint URL."""
    server, url = _start((s3_ca[1], s3_ca[2]))
    try:
        yield url
    finally:
        server.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def s3_server_http() -> Iterator[str]:
    """A plain-http moto server (the one test that keeps that path covered)."""
    server, url = _start(None)
    try:
        yield url
    finally:
        server.stop()  # type: ignore[attr-defined]


def reset_and_create(endpoint: str, bucket: str = "backups") -> str:
    """Reset a moto server and create an empty bucket on it."""
    context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10, context=context).close()
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket


def _credentials(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty bucket on the reset https server; credentials for it only."""
    _credentials(monkeypatch, s3_server)
    return reset_and_create(s3_server)


@pytest.fixture
def s3_bucket_http(s3_server_http: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same on the plain-http server."""
    _credentials(monkeypatch, s3_server_http)
    return reset_and_create(s3_server_http)
