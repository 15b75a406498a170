"""Click commands for the backends (build, query, validate). Light at import: heavy work is imported inside.

The commands are thin: they turn options into BuildSettings and call `runner.build_and_evaluate` or a
backend's `load` + `answer`. They run inside the `advisor` group, whose one error-to-exit mapping
(`advisor.commandline.exits`) turns bad input (InputError) into one line and exit 2.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from advisor.backends.base import DEFAULT_EMBEDDER, DEFAULT_GENERATOR, BuildSettings
from advisor.backends.metrics import PER_INPUT
from advisor.backends.options import EndpointOptions, PromptOptions, RetrievalOptions, TrainingOptions
from advisor.backends.precision import DTYPES as PRECISIONS
from advisor.errors import InputError
from advisor.commandline.params import FRACTION, POSITIVE


DTYPE_HELP = ("The generator's weights: auto is bf16 on a CUDA GPU that has it, fp16 on other GPUs, fp32 on CPU; "
              "the LoRA adapter, its optimiser and the loss stay fp32.")

_DATA_OPTIONS = [
    click.option(
        "--docs",
        "docs",
        default=None,
        type=click.Path(path_type=Path),
        help="Folder of .txt, .md, .html documents (needed by rag and hybrid; leave out for a behaviour task).",
    ),
    click.option(
        "--qa", "qa", required=True, type=click.Path(path_type=Path), help="Question/answer pairs (JSON Lines)."
    ),
]
_SETTING_OPTIONS = [
    click.option("--seed", default=0, show_default=True, help="Seed of the split and of training."),
    click.option(
        "--test-fraction",
        type=FRACTION,
        default=0.3,
        show_default=True,
        help="Share of the pairs held out for evaluation.",
    ),
    click.option(
        "--eval-limit",
        type=click.IntRange(1),
        default=None,
        help="Answer at most N held-out pairs (retrieval is scored on all).",
    ),
    click.option(
        "--embedder", default=DEFAULT_EMBEDDER, show_default=True, help="Sentence-transformers model id or folder."
    ),
    click.option(
        "--generator", default=DEFAULT_GENERATOR, show_default=True,
        help="Causal LM id, folder or .gguf file; with --endpoint, the weights the tuned arms train (none: skip them)."
    ),
    click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "mps"])),
    click.option("--dtype", default="auto", show_default=True, type=click.Choice(PRECISIONS), help=DTYPE_HELP),
    click.option("--quantize", default=None, type=click.Choice(["4bit"]),
                 help="QLoRA: load the generator in 4-bit NF4 through bitsandbytes (CUDA only; pip install "
                 "'advisor[gpu]') [fine-tuning, hybrid, and the untouched model's answers]."),
    click.option(
        "--k", "k", type=click.IntRange(1), default=5, show_default=True, help="Chunks retrieved per question."
    ),
    click.option(
        "--max-new-tokens",
        type=click.IntRange(1),
        default=None,
        help="Longest answer generated, in tokens (default: fits the references, at least 32).",
    ),
    click.option(
        "--metric",
        default=None,
        help=f"Rank by this metric instead of the task's rule ({', '.join(PER_INPUT)}).",
    ),
    click.option(
        "--shots",
        type=click.IntRange(0),
        default=None,
        help="Demonstrations per input [prompt; default: as many as fit, 1-8].",
    ),
    click.option(
        "--chunk-tokens",
        type=click.IntRange(1),
        default=None,
        help="Chunk window in embedder word pieces [rag, hybrid; default 128].",
    ),
    click.option(
        "--chunk-overlap",
        type=click.IntRange(0),
        default=None,
        help="Overlap of consecutive chunks [rag, hybrid; default 32].",
    ),
    click.option(
        "--store",
        type=click.Choice(["hnswlib", "qdrant"]),
        default=None,
        help="Where the index lives [rag, hybrid; default hnswlib files in --out; qdrant: embedded in --out "
        "unless --qdrant-url or --qdrant-path].",
    ),
    click.option(
        "--qdrant-url",
        default=None,
        help="A Qdrant server or cluster, http(s)://HOST:PORT; the API key is read from QDRANT_API_KEY [rag, hybrid].",
    ),
    click.option(
        "--qdrant-path",
        default=None,
        help="An embedded Qdrant storage folder outside --out, updated in place [rag, hybrid].",
    ),
    click.option("--collection", default=None, help="Qdrant collection [rag, hybrid; default 'advisor']."),
    click.option(
        "--text-field",
        default=None,
        help="Payload field holding each chunk's text in an existing collection, which is then only read "
        "(with --doc-field) [rag, hybrid].",
    ),
    click.option(
        "--doc-field",
        default=None,
        help="Payload field holding each chunk's document id (as the pairs' source names it) in an existing "
        "collection [rag, hybrid].",
    ),
    click.option(
        "--mode",
        type=click.Choice(["qa", "documents", "both"]),
        default=None,
        help="What to fine-tune on [fine-tuning].",
    ),
    click.option("--epochs", type=POSITIVE, default=None, help="Training epochs [fine-tuning, hybrid]."),
    click.option("--lr", type=POSITIVE, default=None, help="Learning rate [fine-tuning, hybrid]."),
    click.option("--rank", type=click.IntRange(1), default=None, help="LoRA rank [fine-tuning, hybrid]."),
    click.option("--target-modules", default=None, help="LoRA target modules, comma-separated [fine-tuning, hybrid]."),
    click.option(
        "--train-batch-size",
        type=click.IntRange(1),
        default=None,
        help="Global training batch, whatever the number of processes [fine-tuning 8, hybrid 4].",
    ),
    click.option(
        "--gradient-accumulation",
        type=click.IntRange(1),
        default=None,
        help="Forward passes per optimiser step; per-process batch = batch / (processes × this) [fine-tuning, hybrid].",
    ),
    click.option(
        "--gradient-checkpointing",
        type=click.Choice(["auto", "on", "off"]),
        default=None,
        is_flag=False,
        flag_value="on",
        help="Recompute activations in the backward pass: less memory, about a third more time; auto (the "
        "default) turns it on when the memory check says training would not fit otherwise [fine-tuning, hybrid].",
    ),
    click.option("--quiet", is_flag=True, help="No progress bars."),
]


_ENDPOINT_OPTIONS = [
    click.option("--endpoint", "endpoint", default=None, metavar="URL",
                 help="An OpenAI-compatible /v1 base URL (vLLM, TGI, Ollama, llama-server, transformers serve, a "
                 "hosted API): the untouched model, prompt and rag answer there; the tuned arms train --generator."),
    click.option("--endpoint-model", default=None, metavar="NAME", help="The model, as the endpoint names it."),
    click.option("--api-key-env", default=None, metavar="VAR",
                 help="Environment variable holding the endpoint's key [default: OPENAI_API_KEY]; it is never "
                 "written anywhere."),
    click.option("--concurrency", type=click.IntRange(1, 256), default=None,
                 help="Requests in flight to the endpoint [default: 4]."),
    click.option("--price-in", type=click.FloatRange(0), default=None,
                 help="Price of a million prompt tokens at the endpoint (default: the answers file's costs:)."),
    click.option("--price-out", type=click.FloatRange(0), default=None,
                 help="Price of a million answer tokens at the endpoint."),
    click.option("--endpoint-timeout", type=click.FloatRange(0, min_open=True), default=None,
                 help="Seconds to wait for one answer before retrying [default: 600]."),
]


class ArmChoice(click.Choice):
    """The registered arms' names, read from the registry when the command runs or shows its help, not at import."""

    def __init__(self) -> None:
        super().__init__([])

    @property
    def choices(self) -> tuple[str, ...]:
        from advisor.backends import arms

        return arms.names()

    @choices.setter
    def choices(self, value: object) -> None:
        pass


def _pipeline_options(func):
    """The data and settings options `build` and `validate` share."""
    for option in reversed(_DATA_OPTIONS + _SETTING_OPTIONS + _ENDPOINT_OPTIONS):
        func = option(func)
    return func


def _endpoint_options(func):
    """The endpoint's options alone (`query`)."""
    for option in reversed(_ENDPOINT_OPTIONS):
        func = option(func)
    return func


def endpoint_from(options: dict) -> EndpointOptions | None:
    """The endpoint's typed options from the command line, or None without --endpoint; the options that only
    mean something with an endpoint are refused without one."""
    url = options.get("endpoint")
    if url is None:
        given = [name for name in ("endpoint_model", "api_key_env", "concurrency", "price_in", "price_out",
                                   "endpoint_timeout") if options.get(name) is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise InputError(f"{flags}: only used with --endpoint URL (an OpenAI-compatible /v1 base URL)")
        return None
    values = {"url": url, "model": options.get("endpoint_model") or "",
              "api_key_env": options.get("api_key_env"), "concurrency": options.get("concurrency"),
              "price_in": options.get("price_in"), "price_out": options.get("price_out"),
              "timeout": options.get("endpoint_timeout")}
    return EndpointOptions(**{k: v for k, v in values.items() if v is not None})


def judge_from(options: dict) -> EndpointOptions | None:
    """The optional judge's endpoint from --judge-* options (popped from `options`), checked; None without one."""
    values = {name: options.pop(name, None) for name in ("judge_endpoint", "judge_model", "judge_api_key_env",
                                                          "judge_price_in", "judge_price_out")}
    url = values["judge_endpoint"]
    if url is None:
        given = [name for name, value in values.items() if value is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise InputError(f"{flags}: only used with --judge-endpoint URL")
        return None
    from advisor.backends.base import check_endpoint

    judge = EndpointOptions(url=url, model=values["judge_model"] or "",
                            **{k: v for k, v in (("api_key_env", values["judge_api_key_env"]),
                                                 ("price_in", values["judge_price_in"]),
                                                 ("price_out", values["judge_price_out"])) if v is not None})
    try:
        check_endpoint(judge)
    except InputError as exc:
        raise InputError(str(exc).replace("--endpoint-model", "--judge-model").replace("--endpoint", "--judge-endpoint")
                         .replace("--api-key-env", "--judge-api-key-env")) from None
    return judge


def settings_from(options: dict) -> BuildSettings:
    """BuildSettings from the shared options, each approach's own options in its typed section."""
    return BuildSettings(
        seed=options["seed"],
        test_fraction=options["test_fraction"],
        eval_limit=options["eval_limit"],
        embedder=options["embedder"],
        generator=options["generator"],
        device=options["device"],
        dtype=options["dtype"],
        quantize=options["quantize"],
        k=options["k"],
        max_new_tokens=options["max_new_tokens"],
        metric=options["metric"],
        retrieval=RetrievalOptions(
            chunk_tokens=options["chunk_tokens"],
            chunk_overlap=options["chunk_overlap"],
            store=options["store"],
            qdrant_url=options["qdrant_url"],
            qdrant_path=options["qdrant_path"],
            collection=options["collection"],
            text_field=options["text_field"],
            doc_field=options["doc_field"],
        ),
        training=TrainingOptions(
            mode=options["mode"],
            epochs=options["epochs"],
            lr=options["lr"],
            rank=options["rank"],
            target_modules=options["target_modules"],
            batch_size=options["train_batch_size"],
            accumulation=options["gradient_accumulation"],
            gradient_checkpointing=options["gradient_checkpointing"],
        ),
        prompt=PromptOptions(shots=options["shots"]),
        endpoint=endpoint_from(options),
    )


@click.command()
@click.argument("approach", type=ArmChoice())
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Folder to build into (replaced as a whole)."
)
@_pipeline_options
def build(approach: str, docs: Path | None, qa: Path, out: Path, quiet: bool, **options) -> None:
    """Build APPROACH on your pairs (and documents), and evaluate it on held-out pairs."""
    from advisor.atomic import check_output_dir
    from advisor.backends.distributed import is_main
    from advisor.backends.evaluation import format_table
    from advisor.backends.runner import METRICS_FILE, build_and_evaluate

    check_output_dir(out)  # before any model loads; a folder holding other files is refused by the runner
    quiet = quiet or not is_main()  # under a launcher only the main process logs
    echo = None if quiet else (lambda message: click.echo(message, err=True))
    metrics = build_and_evaluate(approach, docs, qa, out, settings_from(options), progress=not quiet, echo=echo)
    click.echo(format_table(metrics))
    click.echo(f"wrote {out / METRICS_FILE}")


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("question")
@click.option("--k", "k", type=int, default=None, help="Chunks retrieved (default: as built).")
@click.option("--max-new-tokens", type=int, default=None, help="Longest answer, in tokens (default: as built).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the answer, its sources and the retrieved chunks (document, chunk number, score, text) "
                   "as JSON.")
@click.option("--dtype", default=None, type=click.Choice(PRECISIONS),
              help="The generator's weights (default: as the build held them).")
@_endpoint_options
def query(out: Path, question: str, k: int | None, max_new_tokens: int | None, as_json: bool, dtype: str | None,
          **options) -> None:
    """Answer QUESTION with the pipeline built in OUT, naming the documents used."""
    from advisor.backends import backend_class

    if not question.strip():
        raise InputError("the question is empty")
    from advisor.runrecords import read_manifest

    manifest = read_manifest(out)
    approach = manifest.approach
    endpoint = endpoint_from(options)
    if endpoint is not None:
        from advisor.backends import arms
        from advisor.backends.base import check_endpoint

        check_endpoint(endpoint)
        if arms.get(approach).trains:
            raise InputError(f"--endpoint: {out} holds a {approach} build, which answers in-process with its "
                             "trained adapter; an endpoint answers for prompt and rag builds")
    else:
        built_with = manifest.settings.get("endpoint")
        if isinstance(built_with, dict):
            raise InputError(f"{out} was built to answer through the endpoint at {built_with.get('host')} (model "
                             f"'{built_with.get('model')}'): give --endpoint URL --endpoint-model NAME to query it")
    given = None
    if dtype is not None:  # the build's own settings, held in another precision
        given = replace(BuildSettings.from_json(manifest.settings), dtype=dtype)
    backend = backend_class(approach).load(out, given)
    if k is not None or max_new_tokens is not None or endpoint is not None:
        current = backend.settings
        backend.settings = replace(current, k=current.k if k is None else k,
                                   max_new_tokens=current.max_new_tokens if max_new_tokens is None else max_new_tokens,
                                   endpoint=endpoint)
    answer = backend.answer(question)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "approach": approach,
                    "question": question,
                    "answer": answer.text,
                    "finish_reason": answer.finish_reason,
                    "sources": answer.sources,
                    "hits": [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "score": h.score, "text": h.text}
                             for h in answer.hits],
                },
                indent=2,
            )
        )
        return
    click.echo(answer.text if answer.text.strip() else "(the model sent no text)")
    if answer.finish_reason == "length":
        click.echo("(cut by the token limit: raise --max-new-tokens for longer answers)")
    if answer.sources:
        click.echo("\nSources: " + ", ".join(answer.sources))
    else:
        shown = " and the most similar training examples" if approach == "prompt" else ""
        click.echo(f"\n(no documents: the {approach} pipeline answers from the model's weights{shown})")


@click.command()
@click.argument("answers", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the pipelines, validation.json and the reports (re-runs reuse finished stages).",
)
@click.option(
    "--approaches",
    default=None,
    help="Arms to build and compare, comma-separated (default: all that apply; the untouched model is always "
    "measured).",
)
@click.option(
    "--rules", "rules", type=click.Path(path_type=Path), default=None, help="Rule base (default: the bundled one)."
)
@click.option("--judge-endpoint", default=None, metavar="URL",
              help="Optional LLM judge: an OpenAI-compatible /v1 base URL whose model grades each response against "
              "its references (fixed rubric, temperature 0), reported beside the LLM-free rule, which still ranks.")
@click.option("--judge-model", default=None, metavar="NAME", help="The judge's model, as its endpoint names it.")
@click.option("--judge-api-key-env", default=None, metavar="VAR",
              help="Environment variable holding the judge's key [default: OPENAI_API_KEY].")
@click.option("--judge-price-in", type=click.FloatRange(0), default=None,
              help="The judge's price per million prompt tokens.")
@click.option("--judge-price-out", type=click.FloatRange(0), default=None,
              help="The judge's price per million answer tokens.")
@_pipeline_options
def validate(
    answers: Path, out: Path, approaches: str, rules: Path | None, docs: Path | None, qa: Path, quiet: bool, **options
) -> None:
    """Recommend from ANSWERS, then build and measure the approaches on your data, and write the report."""
    from advisor.atomic import check_output_dir
    from advisor.backends.distributed import is_main
    from advisor.backends.validate import validate as run_validation

    check_output_dir(out)  # before any model loads; a folder holding other files is refused by validate
    judge = judge_from(options)
    main = is_main()  # under a launcher only the main process logs
    result = run_validation(
        answers,
        docs,
        qa,
        out,
        settings_from(options),
        approaches=approaches,
        rules_path=rules,
        progress=not quiet and main,
        echo=lambda message: click.echo(message, err=True) if main else None,
        judge=judge,
    )
    click.echo("")
    click.echo(result.verdict or "")
    for item in result.challenged_answers:
        click.echo(f"  - {item.question} = {item.answer}: {item.evidence}")
    click.echo(f"\nwrote {out / 'validation.json'}")
    click.echo(f"report: {(out / 'report.html').resolve()}")


@click.command()
@click.option("--docs", "docs", required=True, type=click.Path(path_type=Path),
              help="Folder of .txt, .md, .html documents to draft question/answer pairs from.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Pairs file to write (JSON Lines); its summary goes beside it as NAME.draft.json.")
@click.option("--n", "n", type=int, default=60, show_default=True, help="Checked pairs to keep (one a passage).")
@click.option("--seed", default=0, show_default=True, help="Seed of the order passages are drafted from.")
@click.option("--candidates", type=int, default=3, show_default=True,
              help="Candidates drafted per passage (each about a different sentence of it).")
@click.option("--embedder", default=DEFAULT_EMBEDDER, show_default=True,
              help="Sentence-transformers model of the chunker and the round-trip retriever.")
@click.option("--generator", default=DEFAULT_GENERATOR, show_default=True,
              help="Causal LM id, folder or .gguf file that drafts (unused with --endpoint).")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "mps"]))
@click.option("--dtype", default="auto", show_default=True, type=click.Choice(PRECISIONS), help=DTYPE_HELP)
@click.option("--k", "k", type=click.IntRange(1), default=5, show_default=True,
              help="Round-trip check: the source document must be among the chunks retrieved for the question.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@_endpoint_options
def draft(docs: Path, out: Path, n: int, seed: int, candidates: int, embedder: str, generator: str, device: str,
          dtype: str, k: int, quiet: bool, **options) -> None:
    """Draft question/answer pairs from DOCS, keep those their passage backs, for a person to review."""
    from advisor.backends.drafting import draft as run_draft, summary_path

    if options.get("price_in") is not None or options.get("price_out") is not None:
        raise InputError("--price-in, --price-out: a draft reports no cost; leave them out")
    settings = BuildSettings(seed=seed, embedder=embedder, generator=generator, device=device, dtype=dtype, k=k,
                             endpoint=endpoint_from(options))
    echo = None if quiet else (lambda message: click.echo(message, err=True))
    summary = run_draft(docs, out, n, settings, candidates=candidates, progress=not quiet, echo=echo)
    click.echo(f"{summary.candidates} candidates from {summary.passages} passages of "
               f"{summary.documents_drafted_from} documents; removed by each check:")
    for name, count in summary.removed.items():
        click.echo(f"  {name:<22} {count:>5}")
    per = f", {summary.seconds_per_kept:.1f} s per kept pair" if summary.seconds_per_kept else ""
    click.echo(f"kept {summary.kept} of {summary.asked} asked in {summary.seconds:.0f} s{per}")
    if summary.kept < summary.asked:
        click.echo(summary.note)
    click.echo(f"wrote {out} and {summary_path(out)}")
    click.echo(f"review them: advisor serve --review {out}")
