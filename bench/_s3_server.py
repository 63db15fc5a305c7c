"""moto's S3 over HTTP in a process of its own, counting requests: the archive of the scale runs.

Every "machine" of a scale run reaches the same S3 archive, as on ECS or Kubernetes. The counts
(``GET /_counts``) split what the run state costs (keys under ``.oxen-state/``) from the archive's
own uploads, so the benchmark can report the run state's extra S3 requests per video.

    python bench/_s3_server.py PORT_FILE     # writes the port, serves until killed
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

STATE_MARKER = "/.oxen-state/"


class CountingApp:
    """WSGI middleware: counts requests by (state or archive, method); serves ``/_counts``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/_counts":
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        kind = "state" if STATE_MARKER in path else "archive"
        if environ.get("QUERY_STRING", "").startswith("list-type") or "prefix=" in environ.get(
            "QUERY_STRING", ""
        ):
            kind += "_list"
        with self.lock:
            self.counts[f"{kind}:{environ.get('REQUEST_METHOD')}"] += 1
        return self.app(environ, start_response)


def serve(port_file: Path) -> None:
    """Serve moto's S3 with counting on an ephemeral loopback port until killed."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[tuple[str, int]]:
    """A counting moto S3 in its own process with `bucket` created; yields (endpoint, pid)."""
    port_file = Path(tempfile.mkdtemp(prefix="bench-s3-")) / "port"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen([sys.executable, __file__, str(port_file)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the S3 server did not start")
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port_file.read_text()}"
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        yield endpoint, process.pid
    finally:
        process.terminate()
        process.wait(10)


def counts(endpoint: str) -> dict[str, int]:
    """The requests the server has answered, by kind."""
    return dict(httpx.get(f"{endpoint}/_counts", timeout=10).json())


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
