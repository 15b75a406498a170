"""Load on `advisor serve`: many concurrent POST /api/recommend, the server's memory over the run, and the page's
time to a first verdict in a real browser.

    .venv/bin/python benchmarks/bench_serve.py [--requests 2000] [--clients 50] [--page-loads 5]

Starts `advisor serve` on a free loopback port, then measures, in the same run:
(a) the baseline: the same answers documents scored in process through the library call the route uses
    (`advisor.assessment`), one after another;
(b) GET /api/health from the same clients: what the HTTP stack alone costs;
(c) POST /api/recommend with random answer sets from `--clients` concurrent httpx asyncio clients: throughput,
    p50/p95/p99 latency and errors (must be 0; an answer that differs from (a)'s for the same document counts),
    and the server's resident memory at start, middle and end;
(d) time from navigation to the first verdict drawn on the questionnaire page (Playwright + Debian chromium).
The clients run on the same 2 cores as the server, so throughput is a floor. Prints a table and writes
benchmarks/results/serve.json atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from advisor import assessment
from advisor.atomic import write_text
from advisor.engine import compile_rules
from advisor.rulebase import load_rules

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serve.json"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def documents(n: int, seed: int) -> list[dict]:
    """n random answers documents over the bundled rule base (some answers left unknown)."""
    rng = random.Random(seed)
    rulebase = load_rules()
    out = []
    for _ in range(n):
        answers = {q.id: rng.choice([*(v.value for v in q.values), "unknown"]) for q in rulebase.questions}
        out.append({"version": 1, "answers": answers})
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def start_server(runs: Path) -> tuple[subprocess.Popen, str]:
    script = Path(sys.executable).with_name("advisor")
    process = subprocess.Popen([str(script), "serve", "--port", "0", "--runs", str(runs)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if not found:
        process.kill()
        raise SystemExit(f"advisor serve did not start: {line!r} {process.stderr.read()}")
    url = found.group(0).rstrip("/")
    httpx.get(url + "/api/health", timeout=60).raise_for_status()
    return process, url


def in_process(docs: list[dict]) -> tuple[float, list[str]]:
    """Documents per second through the library call behind POST /api/recommend, in this process; and each answer."""
    rulebase = load_rules()
    compiled = compile_rules(rulebase)
    answers_out = []
    start = time.perf_counter()
    for doc in docs:
        document, answers = assessment.check_document(doc, "bench", rulebase)
        answers_out.append(assessment.recommendation_json(assessment.assess(document, answers, rulebase, compiled,
                                                                            "bench")))
    rate = len(docs) / (time.perf_counter() - start)
    return rate, [json.dumps(a, sort_keys=True) for a in json.loads(json.dumps(answers_out))]


async def load(url: str, method: str, path: str, bodies: list[dict | None], clients: int, pid: int,
               expected: list[str] | None = None) -> dict:
    """Send every body from `clients` concurrent clients; latencies, errors (a wrong answer counts), wall time, RSS."""
    queue: asyncio.Queue = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    latencies: list[float] = []
    errors: list[str] = []
    rss = {"start": rss_mb(pid)}
    half = len(bodies) // 2

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                index = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.request(method, path, json=bodies[index])
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}")
                    elif expected and json.dumps(response.json(), sort_keys=True) != expected[index]:
                        errors.append("answer differs from the library's")
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                latencies.append(time.perf_counter() - started)
                if len(latencies) == half:
                    rss["middle"] = rss_mb(pid)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    rss["end"] = rss_mb(pid)
    return {"requests": len(bodies), "clients": clients, "seconds": round(wall, 3),
            "per_second": round(len(bodies) / wall, 1), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1), "rss_mb": {k: round(v, 1) for k, v in rss.items()}}


def first_verdict_ms(url: str, loads: int) -> dict | None:
    """Median and max time from navigation to the first verdict drawn, over `loads` fresh page loads."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(loads + 1):  # the first load warms the browser's caches
            context = browser.new_context()
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_selector("#recommendation")
            times.append(page.evaluate("performance.getEntriesByName('first-verdict')[0].startTime"))
            context.close()
        browser.close()
    times = times[1:]
    return {"loads": loads, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--page-loads", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    docs = documents(args.requests, args.seed)
    baseline, expected = in_process(docs)
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(Path(tmp) / "runs")
        try:
            asyncio.run(load(url, "POST", "/api/recommend", docs[:100], 10, process.pid))  # warm-up
            health = asyncio.run(load(url, "GET", "/api/health", [None] * args.requests, args.clients, process.pid))
            result = asyncio.run(load(url, "POST", "/api/recommend", docs, args.clients, process.pid, expected))
            page = first_verdict_ms(url, args.page_loads)
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=30)
    rss = result["rss_mb"]
    report = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "in_process_per_second": round(baseline, 1),
        "health": health,
        "recommend": result,
        "http_vs_in_process": round(result["per_second"] / baseline, 2),
        "rss_growth_mb_middle_to_end": round(rss["end"] - rss["middle"], 1),
        "first_verdict": page,
    }
    rows = [
        ("in process: library call behind the route (baseline)", f"{baseline:,.0f} documents/s"),
        (f"GET /api/health, {args.clients} clients", f"{health['per_second']:,.0f} req/s, p50 {health['p50_ms']} ms"),
        (f"POST /api/recommend, {args.requests} from {args.clients} clients",
         f"{result['per_second']:,.0f} req/s ({report['http_vs_in_process']:.2f}× in process)"),
        ("  latency p50 / p95 / p99", f"{result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']} ms"),
        ("  errors (failed, or an answer unlike the library's)", str(result["errors"])),
        ("  server RSS start / middle / end", f"{rss['start']} / {rss['middle']} / {rss['end']} MB"),
        ("page: navigation to first verdict", f"median {page['median_ms']} ms, max {page['max_ms']} ms "
         f"({page['loads']} loads)" if page else "skipped (no Playwright)"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    write_text(RESULTS, json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
