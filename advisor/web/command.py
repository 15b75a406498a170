"""The `advisor serve` command; FastAPI and uvicorn load only when it runs."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets others on the network use the app.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--runs", "runs", metavar="DIR", default="runs", show_default=True,
              help="Folder of validation runs (advisor validate --out DIR/NAME) to list and open.")
def serve_command(host: str, port: int, rules: str | None, runs: str) -> None:
    """Open the questionnaire, the live verdict and the validation runs as a local web app."""
    from advisor.web.server import serve

    serve(host, port, rules, runs)
