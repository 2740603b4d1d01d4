"""A local HTTP server for download tests: serves `files` ({url path: bytes}) and honours
`Range: bytes=N-`, like OpenSLR and GitHub do.

Knobs: `ignore_range` (answer every request with the whole body, as some servers do) and
`cut` (paths whose next response sends half the body, then closes the connection, once).
It records each request's (path, Range header) in `requests` and counts `bytes_sent`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class _RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        match = None if server.ignore_range else re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match[1]) if match else 0
        if match and start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        end = len(body)
        if self.path in server.cut:
            server.cut.discard(self.path)
            end = start + (len(body) - start) // 2
            self.close_connection = True
        self.wfile.write(body[start:end])
        server.bytes_sent += end - start

    def log_message(self, *args):  # keep test output quiet
        pass


@contextlib.contextmanager
def range_server(files: dict[str, bytes] | None = None) -> Iterator[ThreadingHTTPServer]:
    """A running server on 127.0.0.1 (its base URL in `.url`), shut down on exit."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.files = dict(files or {})
    httpd.cut, httpd.requests, httpd.bytes_sent, httpd.ignore_range = set(), [], 0, False
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
