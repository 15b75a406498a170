"""Answering through an OpenAI-compatible endpoint against in-process generation, on the bundled sample.

    .venv/bin/python benchmarks/bench_endpoint.py [--questions 22] [--max-new-tokens 32]

Builds the prompt and rag arms on the sample once, takes the chat messages each sends for the held-out
questions, and answers them, in the same run:
(a) the baseline: in-process, the default generator (SmolLM2-135M-Instruct) batched 8 at a time, as
    `advisor validate` does without --endpoint;
(b) through `transformers serve` on loopback serving the same weights, with 1, 4 and 8 requests in flight
    (advisor's client: openai's AsyncOpenAI, no cache), as answers per second and as a ratio to (a), with the
    share of answers equal to (a)'s;
(c) the client's own overhead per request: advisor's client against a stub server that answers at once,
    minus a bare httpx loop against the same stub.
On 2 CPU cores the server competes with this process and with itself: concurrency cannot add cores, and
`transformers serve` without continuous batching generates one request at a time. Prints a table and
writes benchmarks/results/endpoint.json atomically; quote it with the machine load (`uptime`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "endpoint.json"
sys.path.insert(0, str(ROOT))  # for tests.support.endpoint, the loopback server launcher the tests use

from tests.support.endpoint import transformers_serve  # noqa: E402

from advisor.atomic import write_text  # noqa: E402
from advisor.backends.base import DEFAULT_GENERATOR, BuildSettings  # noqa: E402
from advisor.backends.endpoint import EndpointClient  # noqa: E402
from advisor.backends.options import EndpointOptions  # noqa: E402

STUB_REPLY = {"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "OK"}}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}


def conversations(limit: int, settings: BuildSettings) -> dict[str, list[list[dict[str, str]]]]:
    """The chat messages the prompt and rag arms send for the first `limit` held-out questions of the sample."""
    from advisor.backends.data import load_documents, load_pairs, split_pairs
    from advisor.backends.fewshot import PromptBackend
    from advisor.backends.prompts import context_messages, few_shot_messages
    from advisor.backends.rag import RagBackend

    documents = load_documents(ROOT / "sample" / "docs")
    pairs = load_pairs(ROOT / "sample" / "qa.jsonl", documents)
    train, test = split_pairs(pairs, settings.test_fraction, settings.seed)
    questions = [p.question for p in test[:limit]]
    with tempfile.TemporaryDirectory() as tmp:
        prompt = PromptBackend(settings)
        prompt.build(documents, train, Path(tmp) / "prompt", progress=False)
        rag = RagBackend(settings)
        rag.build(documents, train, Path(tmp) / "rag", progress=False)
        demos = prompt.demonstrations(questions)
        hits = rag.retrieve_many(questions, rag.context_k)
    return {"prompt": [few_shot_messages(q, d) for q, d in zip(questions, demos)],
            "rag": [context_messages(q, h) for q, h in zip(questions, hits)]}


def stub_server() -> tuple[ThreadingHTTPServer, str]:
    """An OpenAI-compatible stub on loopback that answers every chat completion at once."""
    body = json.dumps(STUB_REPLY).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


async def bare_loop(url: str, messages: list[dict[str, str]], n: int) -> float:
    """Seconds for n sequential POSTs of the same request with a bare httpx client (the overhead baseline)."""
    import httpx

    payload = {"model": "stub", "messages": messages, "max_tokens": 8, "temperature": 0, "seed": 0}
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for _ in range(n):
            response = await client.post(f"{url}/chat/completions", json=payload)
            response.json()
        return time.perf_counter() - started


def client_overhead(messages: list[dict[str, str]], n: int = 300) -> dict[str, float]:
    """Milliseconds per request: advisor's client and a bare httpx loop against the instant stub, one at a time."""
    server, url = stub_server()
    try:
        client = EndpointClient(EndpointOptions(url=url, model="stub", concurrency=1))
        client.complete([messages] * 20, max_new_tokens=8)  # warm-up
        started = time.perf_counter()
        client.complete([messages] * n, max_new_tokens=8)
        ours = (time.perf_counter() - started) / n * 1000
        asyncio.run(bare_loop(url, messages, 20))
        bare = asyncio.run(bare_loop(url, messages, n)) / n * 1000
    finally:
        server.shutdown()
        server.server_close()
    return {"advisor_client_ms": round(ours, 3), "bare_httpx_ms": round(bare, 3),
            "overhead_ms": round(ours - bare, 3), "requests": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=22, help="held-out questions per arm (the sample has 22)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    settings = BuildSettings(max_new_tokens=args.max_new_tokens)
    sent = conversations(args.questions, settings)

    from advisor.backends.generator import shared_generator, weights_folder

    generator = shared_generator(DEFAULT_GENERATOR)
    local: dict[str, dict] = {}
    for arm, messages in sent.items():
        started = time.perf_counter()
        replies = generator.complete(messages, args.max_new_tokens, batch_size=8)
        seconds = time.perf_counter() - started
        local[arm] = {"seconds": round(seconds, 2), "answers_per_second": round(len(messages) / seconds, 3),
                      "texts": [r.text for r in replies],
                      "prompt_tokens_per_answer": round(sum(r.prompt_tokens or 0 for r in replies) / len(replies), 1)}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with transformers_serve(weights_folder(DEFAULT_GENERATOR), Path(tmp) / "serve.log") as server:
            for arm, messages in sent.items():
                for concurrency in args.concurrency:
                    client = EndpointClient(EndpointOptions(url=server.url, model=server.model,
                                                            concurrency=concurrency))
                    started = time.perf_counter()
                    replies = client.complete(messages, args.max_new_tokens)
                    seconds = time.perf_counter() - started
                    rate = len(messages) / seconds
                    same = sum(r.text == t for r, t in zip(replies, local[arm]["texts"]))
                    rows.append({"arm": arm, "concurrency": concurrency, "seconds": round(seconds, 2),
                                 "answers_per_second": round(rate, 3),
                                 "ratio_to_in_process": round(rate / local[arm]["answers_per_second"], 3),
                                 "same_answers": same, "answers": len(messages),
                                 "prompt_tokens_per_answer": round(
                                     sum(r.prompt_tokens or 0 for r in replies) / len(replies), 1)})
    overhead = client_overhead(sent["prompt"][0])
    print(f"machine load: {load}")
    print(f"{'arm':<7} {'how':<22} {'answers/s':>10} {'ratio':>7} {'same answers':>13} {'prompt tokens':>14}")
    for arm in sent:
        row = local[arm]
        print(f"{arm:<7} {'in-process (batch 8)':<22} {row['answers_per_second']:>10.3f} {1.0:>7.2f} "
              f"{'-':>13} {row['prompt_tokens_per_answer']:>14.1f}")
        for r in (r for r in rows if r["arm"] == arm):
            how = f"endpoint, {r['concurrency']} in flight"
            print(f"{arm:<7} {how:<22} {r['answers_per_second']:>10.3f} "
                  f"{r['ratio_to_in_process']:>7.2f} {str(r['same_answers']) + '/' + str(r['answers']):>13} "
                  f"{r['prompt_tokens_per_answer']:>14.1f}")
    print(f"client overhead per request: {overhead['overhead_ms']:.2f} ms (advisor's client "
          f"{overhead['advisor_client_ms']:.2f} ms, bare httpx {overhead['bare_httpx_ms']:.2f} ms, instant stub)")
    result = {"machine": {"platform": platform.platform(), "python": platform.python_version(), "load": load},
              "questions": args.questions, "max_new_tokens": args.max_new_tokens,
              "in_process": {arm: {k: v for k, v in row.items() if k != "texts"} for arm, row in local.items()},
              "endpoint": rows, "client_overhead": overhead}
    write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
