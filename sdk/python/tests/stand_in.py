"""A local HTTP server standing in for a third-party API: it records every request exactly as it arrived
(method, raw target, headers, body bytes) and answers what the test's `check` decides."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a hundred threads connect at once.
    request_queue_size = 256
    daemon_threads = True


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    """Path and query exactly as on the request line."""
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Verdict:
    status: int
    body: Any = None
    headers: Optional[dict[str, str]] = None


class StandIn:
    """Start with `with StandIn() as api:`; set `api.check`; read `api.seen`."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.check: Callable[[Seen], Verdict] = lambda seen: Verdict(200, {"ok": True})
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = Seen(self.command, self.path, self.headers, self.rfile.read(length) if length else b"")
                stand_in.seen.append(seen)
                verdict = stand_in.check(seen)
                body = json.dumps(verdict.body if verdict.body is not None else {}).encode("utf-8")
                self.send_response(verdict.status)
                for name, value in (verdict.headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `seen`, not logs
                return None

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "StandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
