"""A real OpenAI-compatible server for the tests (`transformers serve` on loopback, serving the default generator's
converted folder) and a small loopback proxy in front of it that injects faults: 429 with Retry-After, 5xx,
401/403, slow answers, dropped connections and empty answers.

Readiness is polled over HTTP (GET /health, then one chat completion, which loads the model); the wait
between polls is the server process's own `wait`, so a server that dies is seen at once.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVE = "from transformers.cli.transformers import main; main()"


def free_port() -> int:
    """A TCP port nobody listens on now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serving_missing() -> str | None:
    """Why `transformers serve` cannot run here (a missing package), or None when it can."""
    try:
        import openai  # noqa: F401
        from transformers.utils.import_utils import is_serve_available
    except ImportError as exc:
        return f"openai or transformers is not installed ({exc})"
    if not is_serve_available():
        return "transformers[serving] is not installed (pip install 'transformers[serving]')"
    return None


@dataclass
class Server:
    """A running `transformers serve`: its /v1 base URL, the model name it answers to, its log."""

    url: str
    model: str
    log: Path
    process: subprocess.Popen


def _get(port: int, path: str, body: dict | None = None, timeout: float = 600) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            connection.request("GET", path)
        else:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextmanager
def transformers_serve(folder: str, log: Path, *extra: str, ready_within: float = 900) -> Iterator[Server]:
    """`transformers serve FOLDER` on a free loopback port, ready (model loaded) when this yields; stopped after."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    handle = open(log, "wb")  # noqa: SIM115 - closed below, after the server stops
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", folder, "--host", "127.0.0.1", "--port", str(port),
         "--dtype", "float32", "--device", "cpu", "--log-level", "warning", *extra],
        stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            try:
                status, _ = _get(port, "/health", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            try:  # the pause between polls is the process's own wait: its death ends the loop at once
                process.wait(timeout=0.25)
                raise RuntimeError(f"transformers serve exited with {process.returncode}: see {log}")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve was not up within {ready_within:.0f} s: see {log}")
        # The first chat completion loads the model in the server's engine process: ready once it answers.
        status, body = _get(port, "/v1/chat/completions", {
            "model": folder, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "temperature": 0})
        if status != 200:
            raise RuntimeError(f"transformers serve answered {status} to its first request: {body[:300]!r}")
        yield Server(url=f"http://127.0.0.1:{port}/v1", model=folder, log=log, process=process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its engine process, which it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        handle.close()


# ---------------------------------------------------------------- the fault proxy


@dataclass
class Seen:
    """A request the proxy received: when, its path, the fault it got, and its Authorization header."""

    at: float
    path: str
    action: str
    authorization: str | None
    body: dict = field(default_factory=dict)


def script(*actions: str) -> Callable[[str, dict], str]:
    """A plan that gives chat completions these actions in turn, then passes everything through."""
    queue = list(actions)
    lock = threading.Lock()

    def plan(path: str, body: dict) -> str:
        if not path.endswith("/chat/completions"):
            return "pass"
        with lock:
            return queue.pop(0) if queue else "pass"

    return plan


class FaultProxy:
    """A loopback HTTP proxy to `upstream_port` whose `plan(path, body)` picks each request's fault:

    pass, 429 (with Retry-After: `retry_after`), 500, 502, 503, 401, 403, slow (waits `slow_seconds`, then
    passes), drop (closes the connection without an answer), empty (passes, then blanks the answer's text),
    say:TEXT (passes, then puts TEXT in place of the answer).
    """

    def __init__(self, upstream_port: int, plan: Callable[[str, dict], str] | None = None,
                 retry_after: str = "2", slow_seconds: float = 3.0):
        self.upstream_port, self.plan = upstream_port, plan or script()
        self.retry_after, self.slow_seconds = retry_after, slow_seconds
        self.seen: list[Seen] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._handle(self, b"")

            def do_POST(self) -> None:
                proxy._handle(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def chat_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/chat/completions")]

    def _handle(self, request: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        path = request.path.split("?", 1)[0]
        action = self.plan(path, body)
        self.seen.append(Seen(time.monotonic(), path, action, request.headers.get("Authorization"), body))
        if action == "drop":
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)
            return
        if action.isdigit():
            status = int(action)
            payload = json.dumps({"error": {"message": f"injected {status}", "type": "injected"}}).encode()
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(payload)))
            if status == 429:
                request.send_header("Retry-After", self.retry_after)
            request.end_headers()
            request.wfile.write(payload)
            return
        if action == "slow":
            time.sleep(self.slow_seconds)  # the fault itself: a server that answers late
        status, headers, payload = self._forward(request, raw)
        if (action == "empty" or action.startswith("say:")) and status == 200:
            data = json.loads(payload)
            for choice in data.get("choices", []):
                choice["message"]["content"] = action.removeprefix("say:") if action != "empty" else ""
            payload = json.dumps(data).encode()
        try:
            request.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    request.send_header(name, value)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except OSError:  # the client gave up (its timeout): nothing to answer
            pass

    def _forward(self, request: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=900)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(request.command, request.path, raw or None, headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()
