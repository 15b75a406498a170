"""The `advisor serve` command; FastAPI and uvicorn load only when it runs."""

from __future__ import annotations

import os

import click

DEFAULT_RUNS = "runs"  # may not exist yet: the page then lists no runs


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets others on the network use the app.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--runs", "runs", metavar="DIR", default=None,
              help="Folder of validation runs (advisor validate --out DIR/NAME) to list and open "
                   "[default: runs, which may not exist yet].")
@click.option("--review", "review", metavar="PAIRS", default=None,
              help="A pairs file written by 'advisor draft' to review at /review (accept, edit, reject).")
def serve_command(host: str, port: int, rules: str | None, runs: str | None, review: str | None) -> None:
    """Open the questionnaire, the live verdict and the validation runs as a local web app."""
    from advisor.errors import InputError
    from advisor.web.server import serve

    if runs is not None and not os.path.isdir(runs):
        if os.path.lexists(runs):
            raise InputError(f"--runs {runs}: is a file; give the folder that holds the validation runs")
        raise InputError(f"--runs {runs}: does not exist; give the folder that holds the validation runs "
                         "('advisor validate --out DIR/NAME' writes one there)")
    serve(host, port, rules, runs or DEFAULT_RUNS, review)
