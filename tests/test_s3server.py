"""The moto fixture's connections (tests/s3server.py): kept open from one request to the next,
as real stores keep them, and never mixing a request's unread body into the next request."""

from __future__ import annotations

import http.client
import io
import os
import ssl
from urllib.parse import urlsplit

import boto3
from werkzeug.serving import DechunkedInput

from tests.s3server import _keep_alive


def _connection(endpoint: str) -> http.client.HTTPSConnection:
    parts = urlsplit(endpoint)
    context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    return http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context)


def test_one_connection_carries_one_request_after_another(s3_server: str, s3_bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.put_object(Bucket=s3_bucket, Key="kept", Body=b"first")
    conn = _connection(s3_server)
    # into a bucket that does not exist: refused; its body reads like a request
    conn.request("PUT", "/no-such-bucket/x", body=b"GET /backups/kept HTTP/1.1\r\n\r\n" * 2000)
    refused = conn.getresponse()
    refused.read()
    assert refused.status == 404
    sock = conn.sock
    url = client.generate_presigned_url("get_object", {"Bucket": s3_bucket, "Key": "kept"})
    conn.request("GET", url.removeprefix(s3_server))
    answer = conn.getresponse()
    assert (answer.status, answer.read()) == (200, b"first")
    assert conn.sock is sock and sock is not None  # the same connection
    assert answer.getheader("Connection") is None
    conn.close()


def test_what_the_store_left_of_a_body_is_read_before_the_next_request() -> None:
    def answers_unread(environ: dict[str, object], start_response: object) -> list[bytes]:
        return [b"refused"]

    app = _keep_alive(answers_unread)  # type: ignore[arg-type]
    after = b"GET /next HTTP/1.1\r\n\r\n"
    sized = io.BufferedReader(io.BytesIO(b"x" * 70_000 + after))  # type: ignore[arg-type]
    assert app({"CONTENT_LENGTH": "70000", "wsgi.input": sized}, None) == [b"refused"]
    assert sized.read() == after
    chunked = io.BufferedReader(io.BytesIO(b"5\r\nhello\r\n0\r\n\r\n" + after))  # type: ignore[arg-type]
    environ = {"wsgi.input_terminated": True, "wsgi.input": DechunkedInput(chunked)}
    assert app(environ, None) == [b"refused"]
    assert chunked.read() == after
