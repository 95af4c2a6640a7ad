"""The moto S3 server the benchmarks run against: its own process on 127.0.0.1, plain http,
werkzeug's access log (one line per request) on stderr, and TCP_NODELAY on its connections.

Without that option werkzeug's two writes per response (headers, then body) meet Nagle's
algorithm and the client's delayed ACK: most small requests waited 40 ms for nothing (31.7 ms
per small boto3 request against 5.0 ms with it, tests/s3server.py). A real S3 endpoint does not
wait so; a benchmark against one that does measures the wait, for every tool alike."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

# ``moto_server`` (moto.server.main) with the option set on werkzeug's request handler
_MAIN = (
    "import sys; from moto.moto_server.werkzeug_app import MotoRequestHandler as H; "
    "H.disable_nagle_algorithm = True; from moto.server import main; main(sys.argv[1:])"
)


def command(port: int) -> list[str]:
    """The command line of such a server on 127.0.0.1:``port`` (add ``-c CERT -k KEY`` for
    https: tests/iamserver.py)."""
    return [sys.executable, "-c", _MAIN, "-H", "127.0.0.1", "-p", str(port)]


def start(log: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A running moto server and its endpoint; its access log goes to ``log`` (or nowhere)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        command(port),
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb") if log is not None else subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"
