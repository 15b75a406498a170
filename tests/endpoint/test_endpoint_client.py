"""The endpoint client against a real `transformers serve` on loopback: greedy answers with usage, the run's
cache, one-line preflight errors (unreachable, unknown model, refused key, prompt over the context, wrong
path), and faults injected by a proxy (429 with Retry-After, 5xx, slow answers, dropped connections, empty
answers) retried mid-run or reported as one failure."""

from __future__ import annotations

import pytest
from tests.support.endpoint import free_port, script

from advisor.backends.endpoint import EndpointClient, EndpointError, host_of
from advisor.backends.options import EndpointOptions
from advisor.backends.prompts import closed_book_messages

pytestmark = pytest.mark.slow
QUESTION = closed_book_messages("What is the capital of France?")


def options(url: str, model: str, **more) -> EndpointOptions:
    return EndpointOptions(url=url, model=model, api_key_env="ADVISOR_TEST_KEY", **more)


def test_greedy_answers_come_with_usage_and_are_cached_in_the_run(server, proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_TEST_KEY", "canary-key-0123456789")
    client = EndpointClient(options(proxy.url, server.model, cache=str(tmp_path)))
    conversations = [QUESTION, closed_book_messages("Name a colour.")]
    first = client.complete(conversations, max_new_tokens=12)
    assert [r.text for r in first] == [r.text for r in client.complete(conversations, max_new_tokens=12)]
    assert all(r.text and r.prompt_tokens and r.completion_tokens for r in first)
    assert first[0].finish_reason in ("stop", "length") and not first[0].cached
    assert len(proxy.chat_requests()) == 2  # the second call was answered from the cache
    assert all(s.authorization == "Bearer canary-key-0123456789" for s in proxy.chat_requests())
    again = EndpointClient(options(proxy.url, server.model, cache=str(tmp_path)))  # a re-run reads the file
    assert [r.text for r in again.complete(conversations, max_new_tokens=12)] == [r.text for r in first]
    assert len(proxy.chat_requests()) == 2
    assert "canary-key" not in (tmp_path / "answers-cache.jsonl").read_text()


def test_an_answer_cut_by_the_limit_and_an_empty_one_are_recorded_as_such(server, proxy):
    proxy.plan = script("pass", "empty")
    client = EndpointClient(options(proxy.url, server.model))
    cut = client.complete([closed_book_messages("Describe Paris in detail.")], max_new_tokens=2)[0]
    assert cut.finish_reason == "length" and cut.cut and cut.completion_tokens == 2
    empty = client.complete([QUESTION], max_new_tokens=8)[0]
    assert empty.text == "" and empty.empty


@pytest.mark.parametrize("fault", ["429", "500", "503", "drop"])
def test_a_passing_fault_is_retried_and_the_answer_kept(server, proxy, fault):
    proxy.plan = script(fault)
    proxy.retry_after = "2"
    client = EndpointClient(options(proxy.url, server.model, max_retries=2))
    reply = client.complete([QUESTION], max_new_tokens=6)[0]
    seen = proxy.chat_requests()
    assert reply.text and [s.action for s in seen] == [fault, "pass"]
    if fault == "429":  # the client waited as long as the server asked (a lower bound, never flaky)
        assert seen[1].at - seen[0].at >= 1.9


def test_a_slow_answer_past_the_timeout_is_retried(server, proxy):
    proxy.plan = script("slow")
    proxy.slow_seconds = 40.0  # far past the timeout; the retry, one token from the real server, comes well within
    client = EndpointClient(options(proxy.url, server.model, max_retries=2, timeout=20))
    reply = client.complete([QUESTION], max_new_tokens=1)[0]
    assert reply.text and [s.action for s in proxy.chat_requests()] == ["slow", "pass"]


def test_requests_that_keep_failing_are_one_error_naming_the_host_and_the_status(server, proxy, tmp_path):
    proxy.plan = lambda path, body: "500" if "Name a colour." in str(body) else "pass"
    client = EndpointClient(options(proxy.url, server.model, max_retries=1, cache=str(tmp_path)))
    with pytest.raises(EndpointError) as caught:
        client.complete([QUESTION, closed_book_messages("Name a colour.")], max_new_tokens=6)
    message = str(caught.value)
    assert message.startswith("1 of 2 requests failed: endpoint 127.0.0.1:")
    assert "answered 500 after 1 retries" in message
    assert "\n" not in message and "/v1" not in message
    # the answer that did arrive is cached: running again sends only the failed request
    proxy.plan = script()
    before = len(proxy.chat_requests())
    assert len(client.complete([QUESTION, closed_book_messages("Name a colour.")], max_new_tokens=6)) == 2
    assert len(proxy.chat_requests()) == before + 1


def test_preflight_errors_are_one_line_naming_the_host_and_the_cause(server, proxy, monkeypatch):
    host = host_of(server.url)
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointError, match=r"endpoint 127\.0\.0\.1:\d+ is unreachable .*start the server"):
        EndpointClient(options(nowhere, server.model, max_retries=0)).preflight(QUESTION, 4)
    with pytest.raises(EndpointError, match=f"endpoint {host} does not serve model 'no-such-model' "
                                            r"\(it serves: .*SmolLM2.*\): check --endpoint-model"):
        EndpointClient(options(server.url, "no-such-model")).preflight(QUESTION, 4)
    long_prompt = closed_book_messages("word " * 9000)  # the default model takes 8,192 tokens
    with pytest.raises(EndpointError, match=f"endpoint {host}: a prompt and its answer do not fit the model's "
                                            r"context \(400: The prompt has \d+ tokens"):
        EndpointClient(options(server.url, server.model)).preflight(long_prompt, 4)
    wrong_path = server.url.removesuffix("/v1")
    with pytest.raises(EndpointError, match="lists no models: is the URL the API's /v1 base"):
        EndpointClient(options(wrong_path, server.model)).preflight(QUESTION, 4)
    monkeypatch.delenv("ADVISOR_TEST_KEY", raising=False)
    for status in ("401", "403"):
        proxy.plan = script(status)
        with pytest.raises(EndpointError, match=rf"refused no key \(\$ADVISOR_TEST_KEY is not set\) \({status}: "):
            EndpointClient(options(proxy.url, server.model)).preflight(QUESTION, 4)


def test_messages_never_hold_the_key_or_the_urls_credentials(server, proxy, monkeypatch):
    monkeypatch.setenv("ADVISOR_TEST_KEY", "canary-key-0123456789")
    proxy.plan = lambda path, body: "401"
    with_query = proxy.url + "?api-version=canary-query"
    with pytest.raises(EndpointError) as caught:
        EndpointClient(options(with_query, server.model)).preflight(QUESTION, 4)
    assert "refused the key in $ADVISOR_TEST_KEY (401" in str(caught.value) and "canary" not in str(caught.value)
    assert proxy.chat_requests()[0].authorization == "Bearer canary-key-0123456789"  # the key was sent
    with_user = proxy.url.replace("http://", "http://canary-user:canary-password@")
    with pytest.raises(EndpointError) as caught:
        EndpointClient(options(with_user, server.model)).preflight(QUESTION, 4)
    assert f"endpoint {host_of(proxy.url)} refused" in str(caught.value) and "canary" not in str(caught.value)
