"""A fault-injecting HTTP proxy on 127.0.0.1 between boto3 and the moto server.

Faults, each with its own probability: 503 SlowDown, 500 InternalError, a connection reset
before any response, a response body cut short, and latency; on request (``kinds``), a stall:
no answer until the proxy stops. Loopback only; bounded by the test that starts it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by the test proxy</Message></Error>"
)


class FaultProxy:
    """Forwards to ``upstream``; injects faults at ``rate`` (split evenly between kinds)."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        seed: int = 1,
        kinds: tuple[str, ...] = ("503", "500", "reset", "truncate", "latency"),
        refuse_flexible_checksums: bool = False,
        where: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.where = where  # (method, path) → may a fault hit this request (None: any)
        # Answer like Swift 2.30 / B2 to boto3's default upload format (aws-chunked bodies,
        # x-amz-checksum-* headers): 501 NotImplemented, counted in ``refused``.
        self.refuse_flexible_checksums = refuse_flexible_checksums
        self.refused = 0
        self.rate = rate
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(kinds, 0)
        self.requests = 0
        self.released = threading.Event()  # ends the "stall" faults
        # every PUT and POST as (method, path with query, its If-None-Match header or None)
        self.writes: list[tuple[str, str, str | None]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as tests/s3server.py's Handler: no 40 ms stalls

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.tls = self.upstream.scheme == "https"
        self.client_context: ssl.SSLContext | None = None
        if self.tls:  # TLS on both sides, like the server it stands in front of
            from tests import s3server

            assert s3server.SERVER_TLS is not None
            server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_context.load_cert_chain(*map(str, s3server.SERVER_TLS))
            self.server.socket = server_context.wrap_socket(self.server.socket, server_side=True)
            self.client_context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def _pick(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.rng.random() >= self.rate:
                return None
            kind = self.rng.choice(self.kinds)
            self.injected[kind] += 1
            return kind

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        if h.command in ("PUT", "POST"):
            with self.lock:
                self.writes.append((h.command, h.path, h.headers.get("If-None-Match")))
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(h)  # botocore streams aws-chunked uploads this way over TLS
        else:
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length else b""
        if self.refuse_flexible_checksums and _flexible_checksum(h):
            with self.lock:
                self.refused += 1
            payload = ERROR_XML.format(code="NotImplemented").encode()
            h.send_response(501)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        fault = self._pick() if self.where is None or self.where(h.command, h.path) else None
        if fault in ("503", "500"):
            code = "SlowDown" if fault == "503" else "InternalError"
            payload = ERROR_XML.format(code=code).encode()
            h.send_response(int(fault))
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if fault == "reset":
            h.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            h.connection.close()
            h.close_connection = True
            return
        if fault == "latency":
            time.sleep(0.2)
        if fault == "stall":  # no answer until the proxy stops (a store that hangs)
            self.released.wait(120)
            h.close_connection = True
            return
        conn: http.client.HTTPConnection
        if self.client_context is not None:
            conn = http.client.HTTPSConnection(
                self.upstream.hostname, self.upstream.port, timeout=60, context=self.client_context
            )
        else:
            conn = http.client.HTTPConnection(
                self.upstream.hostname, self.upstream.port, timeout=60
            )
        headers = {
            k: v
            for k, v in h.headers.items()
            if k.lower() not in ("transfer-encoding", "content-length", "expect")
        }  # the whole body is here already: no 100-continue round with the server
        headers["Content-Length"] = str(len(body))
        # The server may answer before reading the body (Swift: a 412 at once): read that.
        with contextlib.suppress(OSError):
            conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        h.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                h.send_header(key, value)
        length = resp.getheader("Content-Length") if h.command == "HEAD" else None
        h.send_header("Content-Length", length or str(len(data)))  # a HEAD keeps the size
        h.end_headers()
        if fault == "truncate" and h.command == "GET" and len(data) > 10:
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if h.command != "HEAD":
            h.wfile.write(data)


def _flexible_checksum(h: BaseHTTPRequestHandler) -> bool:
    """An upload in boto3 >= 1.36's default format: a checksum header, or an aws-chunked body
    with a trailer (reads asking for checksums with x-amz-checksum-mode pass)."""
    if h.command not in ("PUT", "POST"):
        return False
    names = {k.lower() for k in h.headers} - {"x-amz-checksum-mode"}
    return (
        "aws-chunked" in h.headers.get("Content-Encoding", "")
        or "x-amz-trailer" in names
        or any(n.startswith("x-amz-checksum-") for n in names)
    )


def _read_chunked(h: BaseHTTPRequestHandler) -> bytes:
    """The body of a request sent with HTTP chunked transfer encoding."""
    parts = []
    while True:
        size = int(h.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(h.rfile.read(size))
        h.rfile.readline()
