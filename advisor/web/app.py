"""The routes of `advisor serve`: the questionnaire and runs pages, their static files, and the JSON API.

A thin layer: answers documents go through `advisor.assessment` (the same checks, scoring and reports as the
CLI), runs through `advisor.web.runs`. Every `InputError` becomes a 4xx with its one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from advisor import __version__
from advisor.assessment import Assessment, OtherAnswers
from advisor.errors import InputError
from advisor.models import UNKNOWN, AnswersFile, RecommendationOut
from advisor.outcomes import PROMPT, PROMPT_HEADLINE, PROMPT_SUMMARY
from advisor.runrecords import ValidationRun
from advisor.web import runs as run_store
from advisor.web.security import BodyTooLarge, SecurityHeaders, document_csp, read_body

BODY = "request body"  # stands where the CLI names the answers file in its messages
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
STATIC = {  # file name -> media type; nothing else under /static is served
    "dom.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "runs.js": "text/javascript; charset=utf-8",
    "review.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
STATUS = {run_store.BadRunName: 400, run_store.RunOutside: 403, run_store.RunNotFound: 404, OtherAnswers: 409,
          run_store.RunNotDone: 409}


# ---------------------------------------------------------------- API records


class ValueOut(BaseModel):
    """One allowed answer, with why it pulls as it does and its sources."""

    value: str
    label: str
    because: str
    source: list[str]


class QuestionOut(BaseModel):
    """A question of the rule base as the page shows it."""

    id: str
    factor: str
    factor_label: str
    text: str
    help: str
    default: str
    values: list[ValueOut]
    sources: list[str]


class ApproachOut(BaseModel):
    """An approach's name as shown to people."""

    id: str
    label: str
    summary: str


class QuestionsOut(BaseModel):
    """GET /api/questions: every question of the rule base, in order."""

    version: Literal[1] = 1
    rule_base: str
    approaches: list[ApproachOut]
    outcomes: list[ApproachOut]  # what a verdict's start_with can be: few-shot prompting first, or an approach
    questions: list[QuestionOut]


class ErrorOut(BaseModel):
    """Every error answer: one line saying what was wrong and where."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "Body larger than 1 MB"},
    422: {"model": ErrorOut, "description": "Bad answers document: the CLI's one-line message"},
}
ANSWERS_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/AnswersFile"}},
    "application/yaml": {"schema": {"type": "string", "description": "An answers file in YAML"}},
}}}


@dataclass
class Settings:
    """What `advisor serve` was started with, and the rule base loaded once."""

    rulebase: Any
    compiled: Any
    runs_dir: Path
    questions: QuestionsOut


# ---------------------------------------------------------------- the app


def create_app(rules: str | None = None, runs_dir: str | Path = "runs", review: str | Path | None = None) -> FastAPI:
    """The web app over one rule base (default: the bundled one), one folder of validation runs and, optionally,
    one drafted pairs file to review."""
    from advisor.engine import compile_rules
    from advisor.web import review as review_pages
    from advisor.rulebase import load_rules

    if Path(runs_dir).exists() and not Path(runs_dir).is_dir():
        raise InputError(f"--runs {runs_dir}: is a file; give the folder that holds the validation runs")
    reviewed = review_pages.ReviewFile(review) if review is not None else None
    rulebase = load_rules(rules)
    settings = Settings(rulebase, compile_rules(rulebase), Path(runs_dir), _questions(rulebase))
    app = FastAPI(title="advisor", version=__version__, docs_url=None, redoc_url=None,
                  description="The questionnaire, the live verdict and the validation runs of `advisor serve`. "
                              "Bad input answers 4xx with the CLI's one-line message in `detail`.")
    app.state.settings = settings
    pages = _templates()
    pages.globals["reviewing"] = reviewed is not None  # the pages' menu links to the review page
    static = {name: resources.files("advisor.web").joinpath("static").joinpath(name).read_bytes() for name in STATIC}
    _add_error_handlers(app)
    _add_api(app, settings)
    _add_pages(app, settings, pages, static)
    review_pages.add_routes(app, reviewed, lambda name, **context: HTMLResponse(
        pages.get_template(name).render(version=__version__, **context)))
    app.add_middleware(SecurityHeaders)
    return app


def _questions(rulebase: Any) -> QuestionsOut:
    factors = {f.id: f.label or f.id for f in rulebase.factors}
    questions = []
    for q in rulebase.questions:
        values = [ValueOut(value=v.value, label=v.label or v.value, because=v.because, source=list(v.source))
                  for v in q.values]
        sources = list(dict.fromkeys(s for v in q.values for s in v.source))
        questions.append(QuestionOut(id=q.id, factor=q.factor, factor_label=factors.get(q.factor, q.factor),
                                     text=q.text, help=q.help.strip(), default=q.default or UNKNOWN,
                                     values=values, sources=sources))
    approaches = [ApproachOut(id=a, label=info.label, summary=info.summary) for a, info in rulebase.approaches.items()]
    outcomes = [ApproachOut(id=PROMPT, label=PROMPT_HEADLINE, summary=PROMPT_SUMMARY), *approaches]
    return QuestionsOut(rule_base=rulebase.name, approaches=approaches, outcomes=outcomes, questions=questions)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(str(message).split())}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    from advisor.modelfiles import format_loc

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 422), str(exc))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        return _error(422, f"{format_loc(tuple(first['loc']))}: {first['msg']}{more}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api"):
            return _error(exc.status_code, str(exc.detail))
        return _page_error(app, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def fault(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal fault: {type(exc).__name__}: {exc}")


def _page_error(app: FastAPI, status: int, message: str) -> HTMLResponse:
    page = app.state.pages.get_template("error.html.j2").render(status=status, message=message)
    return HTMLResponse(page, status_code=status)


# ---------------------------------------------------------------- JSON API


def _add_api(app: FastAPI, settings: Settings) -> None:
    from advisor import assessment

    async def assess(request: Request, depth: bool = True) -> Any:
        body = await read_body(request.stream(), request.headers.get("content-length"))
        yaml = request.headers.get("content-type", "").split(";")[0].strip().lower() in YAML_TYPES

        def work() -> Any:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{BODY}: not UTF-8 text (byte {exc.start})") from None
            document, answers = assessment.read_document(text, BODY, settings.rulebase, json_format=not yaml)
            return assessment.assess(document, answers, settings.rulebase, settings.compiled, BODY, depth=depth)

        return await run_in_threadpool(work)

    @app.get("/api/health", tags=["api"])
    async def health() -> dict[str, str]:
        """Whether the server answers; its version and rule base."""
        return {"status": "ok", "version": __version__, "rule_base": settings.rulebase.name}

    @app.get("/api/questions", response_model=QuestionsOut, tags=["api"])
    async def questions() -> QuestionsOut:
        """Every question with its help, allowed values (each with why and sources) and default."""
        return settings.questions

    @app.post("/api/recommend", tags=["api"], openapi_extra=ANSWERS_BODY,
              responses={200: {"model": RecommendationOut}, **ERRORS})
    async def recommend(
        request: Request,
        depth: bool = Query(True, description="Add robustness, few-shot prompting first and (given costs) costs"),
    ) -> JSONResponse:
        """An answers document (JSON, or YAML as application/yaml) in; `advisor recommend --format json` out."""
        result = await assess(request, depth)
        return JSONResponse(assessment.recommendation_json(result))

    @app.post(
        "/api/report",
        tags=["api"],
        openapi_extra=ANSWERS_BODY,
        response_class=Response,
        responses={200: {"content": {"text/html": {}, "text/markdown": {}}}, **ERRORS},
    )
    async def report(
        request: Request,
        format: Literal["html", "md"] = "html",  # noqa: A002 - the query name
        answers_file: Optional[str] = Query(None, max_length=300, description="The answers file name the report shows"),
        run: Optional[str] = Query(None, max_length=200, description="Add the evidence of this run under --runs"),
        allow_other_answers: bool = Query(False, description="Report a run made with other answers, with a warning"),
    ) -> Response:
        """An answers document in; the report `advisor report` writes (byte for byte) out, as a download.

        With `run`, the run's evidence is added, as `advisor report --validation` does; a run made with other
        answers than the document's is refused (409) unless `allow_other_answers` is true.
        """
        result = await assess(request)
        fmt = "html" if format == "html" else "markdown"
        validation = None
        if run is not None:
            validation = await run_in_threadpool(_evidence_for, settings, run, result, allow_other_answers)
        text = await run_in_threadpool(assessment.render_report, result, fmt, answers_file, validation)
        headers = {"content-disposition": f'attachment; filename="report.{format}"'}
        if format == "html":
            headers["content-security-policy"] = document_csp(text)
            return Response(text, media_type="text/html; charset=utf-8", headers=headers)
        return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)

    @app.post(
        "/api/answers",
        tags=["api"],
        openapi_extra=ANSWERS_BODY,
        response_class=Response,
        responses={200: {"content": {"application/yaml": {}, "application/json": {}}}, **ERRORS},
    )
    async def answers(request: Request, format: Literal["yaml", "json"] = "yaml") -> Response:  # noqa: A002
        """An answers document in; the checked answers file (every question, `costs:` kept) out, as a download."""
        result = await assess(request, depth=False)
        text = assessment.answers_text(result, json_format=format == "json")
        media = "application/json" if format == "json" else "application/yaml; charset=utf-8"
        return Response(
            text, media_type=media, headers={"content-disposition": f'attachment; filename="answers.{format}"'}
        )

    @app.get("/api/runs", response_model=list[run_store.RunSummary], tags=["api"])
    async def runs() -> list[run_store.RunSummary]:
        """The validation runs under --runs, newest first, each with its status and verdict or progress."""
        return await run_in_threadpool(run_store.list_runs, settings.runs_dir)

    @app.get(
        "/api/runs/{name}",
        response_model=run_store.RunDetail,
        tags=["api"],
        responses={
            400: {"model": ErrorOut},
            403: {"model": ErrorOut},
            404: {"model": ErrorOut},
            422: {"model": ErrorOut, "description": "The run's validation.json is corrupt"},
        },
    )
    async def run(name: str) -> run_store.RunDetail:
        """One run: status, verdict, progress and its whole validation.json (the evidence)."""
        detail = await run_in_threadpool(run_store.read_run, settings.runs_dir, name)
        if detail.status == "corrupt":
            raise InputError(detail.error)
        return detail

    _register_schema(app)


def _register_schema(app: FastAPI) -> None:
    """Put AnswersFile into the OpenAPI components (the request bodies refer to it; they are read by hand)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["AnswersFile"] = AnswersFile.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# ---------------------------------------------------------------- pages


def _templates() -> Any:
    from advisor.templating import template_environment

    env = template_environment("advisor.web", "templates")
    env.filters["duration"] = lambda s: f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"
    return env


def _add_pages(app: FastAPI, settings: Settings, pages: Any, static: dict[str, bytes]) -> None:
    app.state.pages = pages

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(version=__version__, **context), status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def questionnaire() -> HTMLResponse:
        return page("index.html.j2", questions=settings.questions, unknown=UNKNOWN)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    async def runs_page() -> HTMLResponse:
        found = await run_in_threadpool(run_store.list_runs, settings.runs_dir)
        return page("runs.html.j2", runs=found, runs_dir=str(settings.runs_dir))

    @app.get("/runs/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def run_page(name: str) -> Response:
        try:
            detail, html = await run_in_threadpool(_run_report, settings, name)
        except InputError as exc:
            status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 422)
            return _page_error(app, status, str(exc))
        if html is None:
            return page("run.html.j2", run=detail)
        return HTMLResponse(html, headers={"content-security-policy": document_csp(html)})

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    async def api_page() -> HTMLResponse:
        return page("api.html.j2", operations=_operations(app.openapi()))

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in STATIC:
            raise StarletteHTTPException(404, f"no static file '{name}'")
        return Response(static[name], media_type=STATIC[name], headers={"cache-control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(static["favicon.svg"], media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


def _run_report(settings: Settings, name: str) -> tuple[run_store.RunDetail, str | None]:
    """A finished run's report with the evidence (its report.html, else rendered), or None while it runs."""
    detail = run_store.read_run(settings.runs_dir, name)
    if detail.status == "corrupt":
        raise InputError(detail.error)
    if detail.status != "done":
        return detail, None
    folder = run_store.run_folder(settings.runs_dir, name)
    path = run_store.run_file(settings.runs_dir, folder, run_store.REPORT_FILE)
    if path is not None:
        try:
            return detail, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            pass  # not a report we wrote: render one from the evidence instead
    return detail, _render_run_report(settings, detail)


def _evidence_for(settings: Settings, name: str, result: Assessment, allow_other: bool) -> ValidationRun:
    """A finished run's evidence for a report of the assessed answers; refused when it was run with other answers."""
    from advisor import assessment

    detail = run_store.read_run(settings.runs_dir, name)
    if detail.status == "corrupt":
        raise InputError(detail.error)
    if detail.status != "done" or detail.validation is None:
        raise run_store.RunNotDone(f"run '{name}' has not finished (status {detail.status}); it has no evidence yet")
    assessment.check_evidence(detail.validation, result, f"run '{name}'", BODY, allow_other,
                              flag="allow_other_answers=true")
    return detail.validation


def _render_run_report(settings: Settings, detail: run_store.RunDetail) -> str:
    from advisor import assessment

    validation = detail.validation or ValidationRun()
    document, answers = assessment.check_document(
        {"version": 1, "answers": validation.answers or {}}, f"{detail.name}/validation.json", settings.rulebase
    )
    result = assessment.assess(document, answers, settings.rulebase, settings.compiled, detail.name)
    return assessment.render_report(result, "html", validation=validation)


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's operations from the generated OpenAPI document, for the /api page."""
    ops = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "required": p.get("required", False),
                    "description": p.get("description") or p.get("schema", {}).get("description", ""),
                }
                for p in op.get("parameters", [])
            ]
            body = list(op.get("requestBody", {}).get("content", {}))
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": params,
                    "body": body,
                    "responses": sorted(op.get("responses", {})),
                }
            )
    return ops
