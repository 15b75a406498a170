"""Build one approach on the user's data and evaluate it end to end; the library behind `advisor build`.

Every input (documents, pairs, model names, options) is checked before any model is loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from advisor.atomic import write_text
from advisor.backends import arms
from advisor.backends.base import BuildSettings, Document, QAPair
from advisor.backends.plan import ArmPlan, check_models, resolve
from advisor.backends.metrics import Task, choose_metric
from advisor.backends.preflight import check_endpoint
from advisor.errors import InputError
from advisor.runrecords import MANIFEST_FILE, METRICS_FILE, Measurements

log = logging.getLogger(__name__)

_OWN_FILES = (MANIFEST_FILE, METRICS_FILE)
ENDPOINT_CACHE = ".endpoint-cache"  # the run's cache of an endpoint's answers (see replycache.py)


@dataclass
class BuildInputs:
    """Validated inputs of a build: the documents (none for a behaviour task), all pairs, their split, the task,
    and each arm's plan (its settings resolved once)."""

    documents: list[Document]
    pairs: list[QAPair]
    train: list[QAPair]
    test: list[QAPair]
    task: Task
    settings: BuildSettings  # max_new_tokens resolved against the references
    plans: dict[str, ArmPlan] = field(default_factory=dict)  # by arm name


def with_cache(settings: BuildSettings, folder: Path) -> BuildSettings:
    """The settings with the endpoint's answer cache in `folder` (unchanged without an endpoint)."""
    if settings.endpoint is None:
        return settings
    return replace(settings, endpoint=settings.endpoint.model_copy(update={"cache": str(folder)}))


def require_documents(approaches: list[str], option: str = "") -> None:
    """Refuse retrieving arms when no documents were given, naming them and what to do instead."""
    needing = [a for a in approaches if a in arms.needing_documents()]
    if needing:
        verb = "retrieves" if len(needing) == 1 else "retrieve"
        raise InputError(f"{option}{' and '.join(needing)} {verb} from documents: give --docs FOLDER "
                         "(without documents, use prompt or fine-tuning)")


def load_inputs(docs_dir: str | Path | None, qa_file: str | Path, settings: BuildSettings,
                approaches: list[str]) -> BuildInputs:
    """Documents (optional), pairs, split, task and each arm's plan, checked; no model is loaded."""
    from advisor.backends.data import load_documents, load_pairs, split_pairs

    if docs_dir is None:
        require_documents(approaches)
    documents = load_documents(docs_dir) if docs_dir is not None else []
    pairs = load_pairs(qa_file, documents if docs_dir is not None else None)
    train, test = split_pairs(pairs, settings.test_fraction, settings.seed)
    plans = {name: resolve(name, settings, train, pairs) for name in approaches}
    task = choose_metric(test, bool(documents), settings.metric)
    settings = next(iter(plans.values())).settings if plans else settings
    return BuildInputs(documents, pairs, train, test, task, settings, plans)


def check_run_folder(out: Path, own: tuple[str, ...] = _OWN_FILES, what: str = "build") -> None:
    """OUT must be new, empty, or an earlier run's folder (one holding any of `own`): it is replaced as a whole."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not any((out / name).exists() for name in own):
        raise InputError(f"--out {out} holds other files and no earlier {what}; choose a new or empty folder")


def prepare_build(approaches: list[str], docs_dir: str | Path | None, qa_file: str | Path, out_dir: str | Path,
            settings: BuildSettings, own: tuple[str, ...] = _OWN_FILES, what: str = "build") -> BuildInputs:
    """Check the options of every approach, the output folder (`own`: the files of an earlier `what` there),
    the documents and the pairs, split the pairs and resolve each arm's plan; no model is loaded. Shared by
    build and validate."""
    for approach in approaches:
        arms.get(approach)
    check_models(settings, approaches)
    check_run_folder(Path(out_dir), own, what)
    return load_inputs(docs_dir, qa_file, settings, approaches)


def build_and_evaluate(approach: str, docs_dir: str | Path | None, qa_file: str | Path, out_dir: str | Path,
                       settings: BuildSettings | None = None, *, progress: bool = True,
                       baseline_cache: Path | None = None, echo=None, inputs: BuildInputs | None = None,
                       plan: ArmPlan | None = None) -> Measurements:
    """Validate, build `approach` into out_dir, evaluate on the held-out pairs, write out_dir/metrics.json.

    `inputs` (already checked by validate) skips loading the data again; `plan` (default: the one in
    `inputs`) is what the arm is built with. Ctrl-C during evaluation leaves a
    metrics.json marked "interrupted" beside the finished build.
    """
    from advisor.backends import backend_class, distributed
    from advisor.backends.evaluation import evaluate
    from advisor.backends.data import describe_documents
    from advisor.backends.measure import measure

    out = Path(out_dir)
    if inputs is None:
        given = with_cache(settings or BuildSettings(), out / ENDPOINT_CACHE)
        inputs = prepare_build([approach], docs_dir, qa_file, out, given)
        distributed.check_run(list(inputs.plans.values()), len(inputs.train),
                              len(inputs.settings.answered(inputs.test)))
        distributed.barrier()  # every rank has checked OUT before any rank writes there
        # Before the build replaces OUT: the client reads the answers cached there by an earlier run now.
        check_endpoint([approach], inputs.documents, inputs.train, inputs.test, inputs.settings)
    plan = plan or inputs.plans[approach]
    settings = plan.settings
    say = echo or (lambda message: None)
    say(f"{approach}: {describe_documents(inputs.documents)}, {len(inputs.pairs)} pairs "
        f"({len(inputs.train)} for training, {len(inputs.test)} held out, seed {settings.seed})")

    backend = backend_class(approach).from_plan(plan)
    with measure() as built:
        backend, build_facts = distributed.build(backend, inputs.documents, inputs.train, out, progress)
    say(f"built in {built.seconds:.1f} s; evaluating")

    pinned = any(p.split for p in inputs.pairs)  # the pairs fixed the split: --test-fraction was not used
    header = {"approach": approach, "build_seconds": built.seconds, "peak_memory_mb": built.peak_memory_mb,
              "split": {"seed": settings.seed, "test_fraction": None if pinned else settings.test_fraction,
                        "pinned": pinned, "train": len(inputs.train), "test": len(inputs.test),
                        "eval_limit": settings.eval_limit},
              "build": {k: v for k, v in build_facts.items() if k != "train"},
              "settings": plan.recorded()}
    if "train" in build_facts:
        header["train"] = build_facts["train"]
    try:
        with measure() as evaluated:
            metrics = evaluate(backend, inputs.test, settings, task=inputs.task, out=out, progress=progress,
                               baseline_cache=baseline_cache, build_seconds=built.seconds)
    except KeyboardInterrupt:
        stopped = Measurements.model_validate({**header, "interrupted": True})
        distributed.on_main(write_text, out / METRICS_FILE, stopped.to_text())
        raise
    finally:
        backend.close()
    data = metrics.to_json()
    data.update({k: v for k, v in header.items() if data.get(k) is None})
    metrics = Measurements.model_validate(data)
    metrics.peak_memory_mb = max(built.peak_memory_mb, evaluated.peak_memory_mb)
    metrics.interrupted = False
    distributed.on_main(write_text, out / METRICS_FILE, metrics.to_text())
    return metrics
