"""Click commands for the backends (build, query, validate). Light at import: heavy work is imported inside.

STUB: filled in by the backends work (issues 3-5). The core CLI registers these commands.
"""

from __future__ import annotations

import click


@click.command()
@click.argument("approach", type=click.Choice(["rag", "fine-tuning", "hybrid"]))
def build(approach: str) -> None:
    """Build APPROACH on your documents and pairs, and evaluate it on held-out pairs."""
    raise click.UsageError("not implemented yet")


@click.command()
@click.argument("out", type=click.Path())
@click.argument("question")
def query(out: str, question: str) -> None:
    """Answer QUESTION with the pipeline built in OUT, naming the documents used."""
    raise click.UsageError("not implemented yet")


@click.command()
@click.argument("answers", type=click.Path())
def validate(answers: str) -> None:
    """Recommend, then build and measure the approaches on your data, and write the report."""
    raise click.UsageError("not implemented yet")
