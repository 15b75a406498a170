"""What is written about an endpoint (host only, never the key or the URL's credentials), the usage and cost
arithmetic, the base-model warning, and the options, checked without a server."""

from __future__ import annotations

import pytest

from advisor.backends.base import BuildSettings
from advisor.backends.endpoint import check_url, host_of, redact
from advisor.backends.evidence import cost_sentence, model_warning
from advisor.backends.generation import Reply, base_model_key
from advisor.backends.options import EndpointOptions
from advisor.backends.replycache import ReplyCache
from advisor.backends.usage import measure_usage
from advisor.errors import InputError
from advisor.runrecords import AnsweredBy, ArmResult, Baseline, Usage, ValidationRun

SECRET_URL = "https://alice:hunter22@llm.example.com:8443/v1?api-key=q-secret-99"


def test_only_the_host_of_the_url_is_ever_recorded(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-canary-123456")
    options = EndpointOptions(url=SECRET_URL, model="llama3.1:8b", api_key_env="MY_KEY", cache="/tmp/x")
    assert host_of(SECRET_URL) == "llm.example.com:8443"
    assert host_of("http://[::1]:8000/v1") == "[::1]:8000"
    assert host_of("https://api.example.com/v1") == "api.example.com"
    record = BuildSettings(endpoint=options).to_json()["endpoint"]
    assert record == {"host": "llm.example.com:8443", "model": "llama3.1:8b", "api_key_env": "MY_KEY",
                      "concurrency": 4, "currency": "USD"}
    assert BuildSettings.from_json(BuildSettings(endpoint=options).to_json()).endpoint is None
    said = redact(f"failed {SECRET_URL} with key sk-canary-123456", options)
    assert "hunter22" not in said and "alice" not in said and "q-secret-99" not in said and "sk-canary" not in said


@pytest.mark.parametrize("url", ["ftp://host/v1", "localhost:8000/v1", "http:///v1", "http://host:port/v1"])
def test_a_url_that_is_not_http_is_refused_without_repeating_it(url):
    with pytest.raises(InputError, match="^--endpoint: ") as caught:
        check_url(url)
    assert url not in str(caught.value)


def test_usage_counts_tokens_and_prices_them_per_million():
    replies = [Reply("Paris.", "stop", 30, 3, 0.2), Reply("", "stop", 40, 1, 0.1),
               Reply("A long", "length", 50, 8, 0.3)]
    options = EndpointOptions(url="http://h/v1", model="m", price_in=0.5, price_out=1.5, price_source="options")
    usage = measure_usage(replies, 2.0, options)
    assert (usage.prompt_tokens, usage.completion_tokens) == (120, 12)
    assert usage.prompt_tokens_per_answer == 40.0 and usage.completion_tokens_per_answer == 4.0
    assert usage.cost == pytest.approx((120 * 0.5 + 12 * 1.5) / 1e6)
    assert usage.cost_per_1000_answers == pytest.approx(usage.cost / 3 * 1000, rel=1e-3)
    assert (usage.empty, usage.cut, usage.cached, usage.answers_per_second) == (1, 1, 0, 1.5)
    unpriced = measure_usage(replies, 2.0, None)
    assert unpriced.cost is None and unpriced.price_in is None and unpriced.prompt_tokens == 120
    no_usage = measure_usage([Reply("x"), Reply("y", cached=True)], 1.0, options)
    assert no_usage.prompt_tokens is None and no_usage.cost is None and no_usage.answers_per_second is None


def test_the_cache_survives_a_cut_line_and_a_replaced_folder(tmp_path):
    cache = ReplyCache(tmp_path)
    cache.put("k1", Reply("one", "stop", 3, 1, 0.5))
    with open(cache.path, "a", encoding="utf-8") as handle:
        handle.write('{"key": "k2", "reply": {"text": "cut sho')  # an interrupted write
    again = ReplyCache(tmp_path)
    assert again.get("k1") == Reply("one", "stop", 3, 1, 0.5, cached=True) and again.get("k2") is None
    cache.path.unlink()  # a build replaced the folder: the next answer writes everything again
    cache.put("k3", Reply("three"))
    assert set(ReplyCache(tmp_path).replies) == {"k1", "k3"}


@pytest.mark.parametrize(("a", "b", "same"), [
    ("/root/.cache/advisor/models/SmolLM2-135M-Instruct.Q4_1-b179c9523d0e6a0f-tf5.25.0", "SmolLM2-135M-Instruct", True),
    ("meta-llama/Llama-3.1-8B-Instruct", "/models/Llama-3.1-8B-Instruct", True),
    ("Llama-3.1-8B-Instruct-AWQ", "meta-llama/Llama-3.1-8B-Instruct", True),
    ("qwen2.5:7b", "Qwen2.5", True),
    ("llama3.1:8b", "SmolLM2-135M-Instruct", False),
    ("gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct", False),
])
def test_base_model_keys(a, b, same):
    assert (base_model_key(a) == base_model_key(b)) is same


def _run(endpoint_model: str, usage: dict[str, Usage] | None = None) -> ValidationRun:
    served = AnsweredBy(kind="endpoint", model=endpoint_model, host="gpu-box:8000")
    local = AnsweredBy(kind="local", model="SmolLM2-135M-Instruct", device="cpu")
    usage = usage or {}
    return ValidationRun(
        best_measured="rag", metric="contains",
        baseline=Baseline(answers={"contains": 0.1}, answered_by=served, usage=usage.get("untouched")),
        approaches={"rag": ArmResult(status="ok", answers={"contains": 0.5}, answered_by=served,
                                     usage=usage.get("rag")),
                    "fine-tuning": ArmResult(status="ok", answers={"contains": 0.2}, answered_by=local)})


def test_the_report_warns_when_the_arms_answered_with_different_base_models():
    warning = model_warning(_run("llama3.1:8b"))
    assert warning is not None and "did not all answer with the same base model" in warning
    assert "the untouched model, rag with llama3.1:8b at gpu-box:8000" in warning
    assert "fine-tuning with SmolLM2-135M-Instruct (in-process, cpu)" in warning
    assert model_warning(_run("SmolLM2-135M-Instruct")) is None


def test_the_verdicts_cost_argument_uses_the_measured_tokens_and_prices():
    rag = Usage(answers=4, prompt_tokens_per_answer=400.0, completion_tokens_per_answer=20.0,
                cost_per_1000_answers=0.23, currency="USD")
    base = Usage(answers=4, prompt_tokens_per_answer=40.0, completion_tokens_per_answer=18.0,
                 cost_per_1000_answers=0.047, currency="USD")
    said = cost_sentence(_run("m", {"rag": rag, "untouched": base}))
    assert said == ("Measured cost: rag 420 tokens an answer (400 in), 0.23 USD per 1,000 answers, against the "
                    "untouched model 58 tokens an answer (40 in), 0.047 USD per 1,000 answers.")
    assert cost_sentence(_run("m")) is None  # no tokens measured: no argument


def test_prices_come_from_the_options_or_else_the_answers_files_costs():
    from advisor.backends.validate import with_prices

    given = BuildSettings(endpoint=EndpointOptions(url="http://h/v1", model="m", price_in=0.2, price_out=0.8))
    costs = {"queries_per_day": 100, "tokens_per_query": 500, "price_per_1k_tokens": 0.002, "currency": "EUR"}
    kept = with_prices(given, costs, "answers.yaml").endpoint
    assert kept is not None and (kept.price_in, kept.price_out) == (0.2, 0.8)
    assert kept.price_source == "--price-in/--price-out"
    unpriced = BuildSettings(endpoint=EndpointOptions(url="http://h/v1", model="m"))
    from_file = with_prices(unpriced, costs, "answers.yaml").endpoint
    assert from_file is not None and (from_file.price_in, from_file.price_out, from_file.currency) == (2.0, 2.0, "EUR")
    assert from_file.price_source == "answers.yaml: costs (price_per_1k_tokens / 1000)"
    assert with_prices(unpriced, None, "answers.yaml").endpoint == unpriced.endpoint
    assert with_prices(BuildSettings(), costs, "answers.yaml").endpoint is None


def test_the_judges_rubric_and_its_two_allowed_words():
    from advisor.backends.judge import RUBRIC, judge_messages, parse_verdict

    messages = judge_messages("How tall is it?", ["34 metres", "34 m"], "It is 34 metres tall.")
    assert messages[0] == {"role": "system", "content": RUBRIC}
    assert messages[1]["content"] == ("Question: How tall is it?\nReference answers:\n- 34 metres\n- 34 m\n"
                                      "Response: It is 34 metres tall.")
    assert [parse_verdict(t) for t in ("CORRECT", " correct.", "INCORRECT", "Incorrect!")] == [True, True, False, False]
    assert [parse_verdict(t) for t in ("", "The response is correct.", "CORRECT INCORRECT", "yes")] == [None] * 4
