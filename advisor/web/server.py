"""Run the web app on uvicorn: bind first (a port in use is one clear line), print the URL, stop on Ctrl-C."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from collections.abc import Callable

from advisor.errors import InputError


def _echo(line: str) -> None:
    print(line, flush=True)


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; InputError naming the port or host when that is impossible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(
            f"--host {host}: cannot resolve it ({exc.strerror}); use an address such as 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # as uvicorn does; an active listener still conflicts
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"--port {port}: already in use on {host}; stop what uses it or choose another port"
            ) from None
        if exc.errno == errno.EACCES:
            raise InputError(
                f"--port {port}: not allowed to listen there (ports below 1024 need root); "
                "choose a port of 1024 or more"
            ) from None
        raise InputError(f"--host {host}: cannot listen there ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    """Whether the socket listens on a loopback address only."""
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def url_of(sock: socket.socket) -> str:
    """The URL to open for a listening socket."""
    address, port = sock.getsockname()[:2]
    if address in ("0.0.0.0", "::"):
        address = "127.0.0.1" if address == "0.0.0.0" else "::1"
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    rules: str | None = None,
    runs: str = "runs",
    review: str | None = None,
    echo: Callable[[str], None] = _echo,
    warn: Callable[[str], None] = _warn,
) -> None:
    """Serve the app until Ctrl-C (or SIGTERM); InputError for a missing extra, a bad rule base or an unusable port."""
    try:
        import uvicorn
    except ImportError:
        raise InputError(
            "advisor serve needs the web extra: pip install 'advisor[web]' (FastAPI and uvicorn)"
        ) from None
    from advisor.web.app import create_app

    app = create_app(rules, runs, review)
    sock = bind(host, port)
    if not is_loopback(sock):
        warn(
            f"warning: listening on {host}, not loopback: anyone who can reach this machine can use the app "
            f"and read the runs under {runs}/"
        )
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", server_header=False, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    echo(
        f"advisor serve: {url_of(sock)} (rule base '{app.state.settings.rulebase.name}', runs from {runs}/; "
        "Ctrl-C to stop)" + (f"; review {review} at {url_of(sock)}review" if review else "")
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down gracefully and re-raised the signal
    finally:
        sock.close()
    echo("advisor serve: stopped")
