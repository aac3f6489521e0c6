"""A real HTTP receiver on loopback for webhook tests: it records what it is sent, and answers
as told: 2xx, 500, or not at all until released (a receiver that hangs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def signed_by(self, secret: str) -> bool:
        """Whether one of the signature's v1 values is ``secret``'s HMAC of "t.body"."""
        parts = [p.split("=", 1) for p in self.headers["modelyard-signature"].split(",")]
        timestamp = next(v for k, v in parts if k == "t")
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256).hexdigest()
        return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.received: list[Received] = []
        self.answered: list[int] = []  # what each request got (0: the receiver hung on it)
        self._release = threading.Event()
        self._release.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if not receiver._release.is_set():
                    receiver._release.wait(30)
                    with receiver._lock:
                        receiver.answered.append(0)
                    return
                with receiver._lock:
                    status = receiver.status
                    receiver.answered.append(status)
                    if 200 <= status < 300:
                        receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("content-length", "7")
                self.end_headers()
                self.wfile.write(b"nope..." if status >= 300 else b"thanks!")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def hang(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.received]

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def eventually(check: Callable[[], T | None], timeout: float = 20, what: str = "the condition") -> T:
    """``check()``'s first truthy answer, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)
