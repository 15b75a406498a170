"""The client of an OpenAI-compatible endpoint (vLLM, TGI, Ollama, llama.cpp's llama-server, `transformers
serve`, a hosted API): chat completions sent concurrently, retried, cached, and explained when they fail.

Built on the official `openai` package's AsyncOpenAI rather than hand-written HTTP: it already retries 408,
409, 429, 5xx, timeouts and dropped connections with exponential backoff and jitter, honours `Retry-After`
(and `retry-after-ms`) up to two minutes, and raises one exception class per status, which `explain` turns
into one line naming the endpoint's host and the cause. The key is read from the environment when the
client is made and is never written anywhere; every message is passed through `redact` all the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from advisor.backends.generation import Reply
from advisor.backends.options import EndpointOptions
from advisor.backends.replycache import ReplyCache
from advisor.backends.shared import load_once
from advisor.errors import InputError

T = TypeVar("T")
PREFLIGHT_RETRIES = 1  # before any arm runs, fail fast: one retry, then explain
_CONTEXT = re.compile(r"context|max_model_len|max-model-len|maximum|too long|too many tokens|must be <=|exceed",
                      re.IGNORECASE)
_MODEL = re.compile(r"model", re.IGNORECASE)
_NO_MODEL = re.compile(r"pinned|not found|does not exist|not served|unknown|no model|not available|invalid model",
                       re.IGNORECASE)


class EndpointError(InputError):
    """The endpoint cannot answer: unreachable, unknown model, refused key, a prompt over its context, or
    requests that still failed after the retries. The message is one line naming the host, never the key."""


# ---------------------------------------------------------------- the URL


def check_url(url: str) -> None:
    """InputError unless `url` is an http(s) URL with a host (the message never repeats the URL itself)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("--endpoint: expected the http(s) base URL of an OpenAI-compatible API, such as "
                         "http://127.0.0.1:8000/v1")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InputError(f"--endpoint: the port of {parts.hostname} is not a number") from None


def host_of(url: str) -> str:
    """The endpoint's host and port, the only part of its URL that is ever recorded (no credentials, no path,
    no query string)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or "?"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    """The base URL without its query string, and the query as the client's default query (Azure's
    api-version, for one)."""
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(query="", fragment="")), dict(parse_qsl(parts.query))


def redact(text: str, options: EndpointOptions) -> str:
    """`text` with the key, the URL's credentials and its query values replaced by '***'."""
    secrets = [os.environ.get(options.api_key_env) or ""]
    parts = urlsplit(options.url.strip())
    secrets += [parts.username or "", parts.password or "", *(v for _, v in parse_qsl(parts.query))]
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- explaining failures


def _detail(exc: Any) -> str:
    """The server's own words about an error: error.message, detail or message of its JSON body, one line."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            text = str(inner.get("message") or "")
        elif isinstance(inner, str):
            text = inner
        text = text or str(body.get("detail") or body.get("message") or "")
    text = text or str(getattr(exc, "message", "") or exc)
    line = " ".join(text.split())
    return line[:240] + ("..." if len(line) > 240 else "")


def explain(exc: BaseException, options: EndpointOptions, served: Sequence[str] | None = None) -> str:
    """One line for the person running advisor: which endpoint (host only), what went wrong, what to do."""
    import openai

    host, model, env = host_of(options.url), options.model, options.api_key_env
    where = f"endpoint {host}"
    if isinstance(exc, openai.APITimeoutError):
        text = f"{where} did not answer within {options.timeout:g} s (after {options.max_retries} retries)"
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = " ".join(str(cause).split()) if cause is not None and str(cause) else "connection failed"
        text = f"{where} is unreachable ({why}): start the server, or check --endpoint"
    elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        given = f"the key in ${env}" if os.environ.get(env) else f"no key (${env} is not set)"
        text = (f"{where} refused {given} ({exc.status_code}: {_detail(exc)}); set the key in ${env} "
                "or name another variable with --api-key-env")
    elif isinstance(exc, openai.NotFoundError) or (
            isinstance(exc, openai.BadRequestError) and _MODEL.search(_detail(exc))
            and _NO_MODEL.search(_detail(exc)) and not _CONTEXT.search(_detail(exc))):
        if served is not None and not served:
            text = (f"{where} answered {exc.status_code} for chat completions and lists no models: is the URL the "
                    "API's /v1 base (e.g. http://host:8000/v1)?")
        else:
            listing = f" (it serves: {', '.join(list(served)[:5])})" if served else ""
            text = f"{where} does not serve model '{model}'{listing}: check --endpoint-model"
    elif isinstance(exc, openai.BadRequestError) and _CONTEXT.search(_detail(exc)):
        text = (f"{where}: a prompt and its answer do not fit the model's context (400: {_detail(exc)}); lower "
                "--max-new-tokens, --shots or --chunk-tokens, or serve the model with a longer context")
    elif isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retried = f" after {options.max_retries} retries" if status in (408, 409, 429) or status >= 500 else ""
        text = f"{where} answered {status}{retried} ({_detail(exc)})"
    elif isinstance(exc, openai.APIResponseValidationError):
        text = f"{where} answered something that is not a chat completion ({_detail(exc)})"
    elif isinstance(exc, EndpointError):
        text = str(exc)
    else:
        text = f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return redact(text, options)


# ---------------------------------------------------------------- the client


def cache_key(model: str, messages: list[dict[str, str]], max_tokens: int, seed: int) -> str:
    """What an answer depends on: the endpoint's model, the messages and the generation settings."""
    payload = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _run(coroutine: Awaitable[T]) -> T:
    """Run a coroutine to its end from synchronous code, also where an event loop already runs (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


class EndpointClient:
    """Chat completions from one model behind an OpenAI-compatible endpoint: greedy, concurrent, cached.

    `complete` answers every conversation (at most `concurrency` requests in flight), from the run's cache
    where it can; an answer is cached as soon as it arrives, so an interrupted run resumes.
    """

    def __init__(self, options: EndpointOptions, seed: int = 0):
        check_url(options.url)
        self.options, self.seed = options, seed
        self.name = options.model
        self.host = host_of(options.url)
        self.cache = ReplyCache(Path(options.cache)) if options.cache else None

    def _client(self, max_retries: int | None = None) -> Any:
        from openai import AsyncOpenAI

        base, query = _split_query(self.options.url)
        # Servers that check no key (vLLM, Ollama, llama-server, transformers serve) take any; the client needs one.
        key = os.environ.get(self.options.api_key_env) or "no-key"
        return AsyncOpenAI(base_url=base, api_key=key, timeout=self.options.timeout,
                           max_retries=self.options.max_retries if max_retries is None else max_retries,
                           default_query=query or None)

    async def _request(self, client: Any, messages: list[dict[str, str]], max_tokens: int) -> Reply:
        started = time.perf_counter()
        response = await client.chat.completions.create(
            model=self.options.model, messages=messages, max_tokens=max_tokens, temperature=0, seed=self.seed)
        seconds = time.perf_counter() - started
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice is not None and choice.message is not None else ""
        usage = response.usage
        return Reply(text=text.strip(), finish_reason=choice.finish_reason if choice is not None else None,
                     prompt_tokens=getattr(usage, "prompt_tokens", None),
                     completion_tokens=getattr(usage, "completion_tokens", None), seconds=round(seconds, 4))

    async def _many(self, conversations: list[list[dict[str, str]]], keys: list[str], max_tokens: int,
                    on_reply: Callable[[str, Reply], None]) -> list[Reply | BaseException]:
        client = self._client()
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(messages: list[dict[str, str]], key: str) -> Reply:
            async with gate:
                reply = await self._request(client, messages, max_tokens)
            on_reply(key, reply)
            return reply

        try:
            return list(await asyncio.gather(*(one(m, k) for m, k in zip(conversations, keys)),
                                             return_exceptions=True))
        finally:
            await client.close()

    def complete(self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 32,
                 batch_size: int = 8) -> list[Reply]:
        """Greedy replies, in order; EndpointError (one line) when some requests still failed after the retries.

        The answers that did arrive are cached first, so running again sends only the failed ones."""
        keys = [cache_key(self.name, c, max_new_tokens, self.seed) for c in conversations]
        replies: list[Reply | None] = [self.cache.get(k) if self.cache is not None else None for k in keys]
        missing = [i for i, r in enumerate(replies) if r is None]
        if missing:
            def keep(key: str, reply: Reply) -> None:
                if self.cache is not None:
                    self.cache.put(key, reply)

            outcomes = _run(self._many([conversations[i] for i in missing], [keys[i] for i in missing],
                                       max_new_tokens, keep))
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            for i, outcome in zip(missing, outcomes):
                if isinstance(outcome, Reply):
                    replies[i] = outcome
            if failed:
                for outcome in failed:
                    if isinstance(outcome, (KeyboardInterrupt, asyncio.CancelledError)):
                        raise KeyboardInterrupt
                raise EndpointError(f"{len(failed)} of {len(missing)} requests failed: "
                                    f"{explain(failed[0], self.options)}")
        return [r for r in replies if r is not None]

    def chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 32,
             batch_size: int = 8) -> list[str]:
        """The replies' texts (the in-process Generator's interface)."""
        return [r.text for r in self.complete(conversations, max_new_tokens, batch_size)]

    def preflight(self, messages: list[dict[str, str]], max_new_tokens: int) -> Reply:
        """One request before any arm runs; EndpointError naming the cause when the endpoint cannot answer
        (unreachable, unknown model, refused key, a prompt over its context)."""
        return _run(self._preflight(messages, max_new_tokens))

    async def _preflight(self, messages: list[dict[str, str]], max_new_tokens: int) -> Reply:
        import openai

        client = self._client(max_retries=PREFLIGHT_RETRIES)
        try:
            return await self._request(client, messages, max_new_tokens)
        except openai.NotFoundError as exc:
            raise EndpointError(explain(exc, self.options, await self._served(client))) from None
        except openai.BadRequestError as exc:
            raise EndpointError(explain(exc, self.options, await self._served(client))) from None
        except openai.OpenAIError as exc:
            raise EndpointError(explain(exc, self.options)) from None
        finally:
            await client.close()

    @staticmethod
    async def _served(client: Any) -> list[str] | None:
        """The model ids the endpoint lists ([] when it answers none, None when listing failed otherwise)."""
        import openai

        try:
            page = await client.models.list()
        except openai.NotFoundError:
            return []
        except openai.OpenAIError:
            return None
        return [m.id for m in page.data]


def shared_client(options: EndpointOptions, seed: int = 0) -> EndpointClient:
    """One client per endpoint, model, settings and seed in this process (it holds the run's cache in memory)."""
    return load_once(("endpoint", options, seed), lambda: EndpointClient(options, seed))
