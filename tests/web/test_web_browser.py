"""The pages in a real browser (Playwright driving Debian's Chromium): answer by clicking and by keyboard alone,
watch the verdict follow, load and download files, follow a run live; and no console errors on the way."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from tests.support.web import (SAMPLE_ANSWERS, Server, cli, finish_progress, minute_bracketed, write_done_run,
                         write_progress)

from advisor import assessment
from advisor.engine import compile_rules
from advisor.rulebase import load_rules

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COSTS = {"queries_per_day": 2000, "tokens_per_query": 900, "price_per_1k_tokens": 0.002, "currency": "EUR"}


def _chromium() -> str | None:
    found = shutil.which("chromium")
    return found or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright; the tests skip, saying why, where neither can be had."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine: install it with 'apt-get install -y chromium' "
                    "(scripts/setup.sh does so when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed: run scripts/setup.sh")
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)  # a loaded 2-core machine can take seconds; passing runs do not wait it out
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """A browser page with everything that went wrong on it: console errors, page errors, failed requests."""

    def __init__(self, browser, base_url: str, **options):
        self.context = browser.new_context(base_url=base_url, accept_downloads=True, **options)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on(
            "response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        )

    def close(self) -> list[str]:
        problems = list(self.problems)
        self.context.close()
        return problems


@pytest.fixture
def watched(browser, server):
    """A fresh page on the shared server; it must end with no console error and no failed request."""
    w = Watched(browser, server.url)
    yield w
    assert w.close() == []


def _expect():
    from playwright.sync_api import expect

    return expect


def _engine(answers: dict[str, str], costs: dict | None = None) -> dict:
    rulebase = load_rules()
    document, checked = assessment.check_document(
        {"version": 1, "answers": answers, **({"costs": costs} if costs else {})}, "test", rulebase
    )
    return assessment.recommendation_json(
        assessment.assess(document, checked, rulebase, compile_rules(rulebase), "test")
    )


def _click(page, question: str, value: str) -> None:
    page.locator(f'label.choice:has(input[name="{question}"][value="{value}"])').click()


def test_clicking_answers_moves_the_verdict_without_reloading_and_lists_the_flips(watched):
    expect, page = _expect(), watched.page
    page.goto("/")
    expect(page.locator("#recommendation")).to_have_attribute("data-value", _engine({})["recommendation"])
    page.evaluate("window.notReloaded = true")
    _click(page, "style_adaptation", "strong")
    wanted = _engine({"style_adaptation": "strong"})
    assert wanted["recommendation"] == "fine-tuning"
    expect(page.locator("#recommendation")).to_have_attribute("data-value", "fine-tuning")
    expect(page.locator("#verdict-status")).to_contain_text(f"confidence {wanted['confidence']:.2f}")
    assert "%" not in page.locator("#verdict-status").inner_text()  # a heuristic score, not a probability
    assert page.evaluate("window.notReloaded") is True
    flips = page.locator("#flips [data-to]")
    expect(flips).to_have_count(len(wanted["flips"]))
    shown = {(to.evaluate("e => e.closest('li').dataset.question"), to.get_attribute("data-to")) for to in flips.all()}
    assert shown == {(f["question"], f["to"]) for f in wanted["flips"]}
    assert page.locator("#ask-next").get_attribute("data-question") == wanted["ask_next"]
    assert wanted["ask_next"] == wanted["unknowns"]["ask_next"][0]["question"]  # one question, whichever field
    score = float(page.locator('meter[data-approach="fine-tuning"]').get_attribute("value"))
    assert score == wanted["scores"]["fine-tuning"]
    factors = {row.get_attribute("data-factor") for row in page.locator("#factors tbody tr").all()}
    assert factors == {f["id"] for f in wanted["factors"]}

    for question, value in (
        ("knowledge_change", "static"),
        ("external_knowledge", "none"),
        ("style_adaptation", "none"),
    ):
        _click(page, question, value)
    wanted = _engine({"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "none"})
    assert wanted["prompt_first"]["applies"] and wanted["start_with"] == "prompt"
    expect(page.locator("#prompt-first")).to_contain_text("few-shot prompting of a general model may be enough")
    expect(page.locator("#recommendation")).to_have_attribute("data-value", wanted["recommendation"])
    expect(page.locator("#recommendation")).to_have_attribute("data-start-with", "prompt")
    expect(page.locator("#recommendation")).to_have_text("Few-shot prompting first")
    expect(page.locator("#fallback")).to_contain_text("If it falls short, the best of the three approaches")
    expect(page.locator("#rules li")).to_have_count(len(wanted["rules"]))


def test_the_new_questions_move_the_verdict_off_the_hybrid(watched):
    """Where the knowledge lives and what kind of behaviour is needed: a tone is set in the prompt, not trained."""
    expect, page = _expect(), watched.page
    page.goto("/")
    both = {"knowledge_change": "weekly", "external_knowledge": "most", "style_adaptation": "strong",
            "labeled_examples": "thousands", "ml_expertise": "strong"}
    for question, value in both.items():
        _click(page, question, value)
    assert _engine(both)["recommendation"] == "hybrid"
    expect(page.locator("#recommendation")).to_have_attribute("data-value", "hybrid")
    expect(page.locator('input[name="style_kind"][value="not_sure"]')).to_be_checked()
    _click(page, "style_kind", "tone")
    wanted = _engine({**both, "style_kind": "tone"})
    assert wanted["recommendation"] == "rag"
    expect(page.locator("#recommendation")).to_have_attribute("data-value", "rag")
    expect(page.locator("#rules li")).to_have_count(len(wanted["rules"]))
    _click(page, "style_kind", "format")
    _click(page, "knowledge_location", "corpus")
    strict = {**both, "style_kind": "format", "knowledge_location": "corpus"}
    assert _engine(strict)["recommendation"] == "hybrid"
    expect(page.locator("#recommendation")).to_have_attribute("data-value", "hybrid")
    _click(page, "labeled_examples", "none")  # nothing to train on: the verdict is forced, and says so
    assert _engine({**strict, "labeled_examples": "none"})["confidence_capped_by"] == "nothing_to_train_on"
    expect(page.locator("#recommendation")).to_have_attribute("data-value", "rag")
    expect(page.locator("#verdict-status")).to_contain_text("capped: rule nothing_to_train_on alone decides it")


def test_the_form_works_with_the_keyboard_alone(watched):
    expect, page = _expect(), watched.page
    page.goto("/")
    expect(page.locator("#recommendation")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"

    def tab_to(name: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.name") == name:
                return
        raise AssertionError(f"Tab never reached the answers of {name}")

    tab_to("knowledge_change")
    assert page.evaluate("document.activeElement.value") == "unknown"
    page.keyboard.press("ArrowRight")  # unknown -> static
    tab_to("external_knowledge")
    page.keyboard.press("ArrowRight")  # unknown -> none
    tab_to("style_adaptation")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # unknown -> none -> light
    chosen = page.evaluate("""() => Object.fromEntries(['knowledge_change', 'external_knowledge', 'style_adaptation']
        .map((q) => [q, document.querySelector(`input[name="${q}"]:checked`).value]))""")
    assert chosen == {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "light"}
    wanted = _engine(chosen)
    expect(page.locator("#recommendation")).to_have_attribute("data-value", wanted["recommendation"])
    expect(page.locator("#flips [data-to]")).to_have_count(len(wanted["flips"]))
    # the sources open from the keyboard, and the skip link jumps to the verdict
    for _ in range(40):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.parentElement.open") is True
    page.keyboard.press("Control+Home")
    page.locator(".skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#verdict"


def test_load_an_answers_file_and_download_the_report_the_cli_writes(watched, tmp_path):
    expect, page = _expect(), watched.page
    text = SAMPLE_ANSWERS.read_text() + yaml.safe_dump({"costs": COSTS}, sort_keys=False)
    path = tmp_path / "answers.yaml"
    path.write_text(text)
    page.goto("/")
    expect(page.locator("#recommendation")).to_be_visible()
    page.set_input_files("#load", str(path))
    expect(page.locator("#loaded")).to_contain_text("Loaded answers.yaml (with its cost assumptions)")
    document = yaml.safe_load(text)
    wanted = _engine(document["answers"], COSTS)
    expect(page.locator("#recommendation")).to_have_attribute("data-value", wanted["recommendation"])
    expect(page.locator("#costs tbody tr")).to_have_count(len(wanted["costs"]["rows"]))
    assert page.locator('input[name="traceability"][value="required"]').is_checked()
    assert page.locator("#project").input_value() == document["project"]

    for button, ending in (("#download-html", "html"), ("#download-md", "md")):
        before = _cli_report(tmp_path, ending)
        with page.expect_download() as download:
            page.click(button)
        got = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == f"report.{ending}"
        assert minute_bracketed(before, got, _cli_report(tmp_path, ending)), ending

    with page.expect_download() as download:
        page.click("#download-answers")
    saved = tmp_path / "downloaded.yaml"
    download.value.save_as(saved)
    defaults = {q.id: q.default for q in load_rules().questions if q.default}  # every question is written out
    assert yaml.safe_load(saved.read_text()) == {**document, "answers": {**document["answers"], **defaults},
                                                 "costs": COSTS}
    assert json.loads(cli("recommend", str(saved), "--format", "json").stdout) == wanted


def test_answers_made_by_clicking_download_with_the_report_the_cli_writes_from_them(watched, tmp_path):
    expect, page = _expect(), watched.page
    page.goto("/")
    expect(page.locator("#recommendation")).to_be_visible()
    for question, value in (("traceability", "required"), ("labeled_examples", "thousands")):
        _click(page, question, value)
    page.fill("#project", "Clinic <triage> bot")
    expect(page.locator("#recommendation")).to_have_attribute(
        "data-value", _engine({"traceability": "required", "labeled_examples": "thousands"})["recommendation"]
    )
    with page.expect_download() as download:
        page.click("#download-answers")
    download.value.save_as(tmp_path / "answers.yaml")
    saved = yaml.safe_load((tmp_path / "answers.yaml").read_text())
    assert saved["project"] == "Clinic <triage> bot" and saved["answers"]["traceability"] == "required"
    before = _cli_report(tmp_path, "html")
    with page.expect_download() as download:
        page.click("#download-html")
    got = Path(download.value.path()).read_bytes()
    assert minute_bracketed(before, got, _cli_report(tmp_path, "html"))
    assert b"Clinic &lt;triage&gt; bot" in got


def _cli_report(folder: Path, ending: str) -> bytes:
    result = cli("report", "answers.yaml", "-o", f"cli.{ending}", cwd=folder)
    assert result.returncode == 0, result.stderr
    return (folder / f"cli.{ending}").read_bytes()


def test_a_bad_answers_file_shows_the_cli_message(browser, server, tmp_path):
    expect = _expect()
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nanswers:\n  knowledge_change: hourly\n")
    message = cli("recommend", "bad.yaml", cwd=tmp_path).stderr.strip().removeprefix("error: ")
    w = Watched(browser, server.url)
    w.page.goto("/")
    expect(w.page.locator("#recommendation")).to_be_visible()
    w.page.set_input_files("#load", str(bad))
    expect(w.page.locator("#error")).to_have_text(message)
    problems = w.close()
    # the 422 itself is the only thing that went wrong (the browser logs a refused request as a console error)
    assert all("422" in p for p in problems) and any(p.startswith("HTTP 422") for p in problems), problems


def test_the_page_reads_on_a_phone(browser, server):
    expect = _expect()
    w = Watched(browser, server.url, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = w.page
    page.goto("/")
    expect(page.locator("#verdict-mini")).to_be_visible()
    expect(page.locator("#verdict-mini")).to_contain_text("Verdict:")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    heights = [box["height"] for box in (label.bounding_box() for label in page.locator("label.choice").all()) if box]
    assert heights and min(heights) >= 40  # finger-sized targets
    page.locator('label.choice:has(input[name="style_adaptation"][value="strong"])').tap()
    expect(page.locator("#verdict-mini")).to_contain_text("Fine")
    assert w.close() == []


def test_runs_page_opens_a_report_with_evidence_and_follows_a_run_live(browser, tmp_path):
    expect = _expect()
    runs = tmp_path / "runs"
    write_done_run(runs / "sample")
    write_progress(runs / "live", 2)
    server = Server("--runs", str(runs))
    try:
        w = Watched(browser, server.url)
        page = w.page
        page.goto("/runs")
        expect(page.locator('tr[data-run="sample"] td').nth(1)).to_have_text("done")
        expect(page.locator('tr[data-run="live"] .detail')).to_contain_text("stage 3 of 5: rag")
        write_progress(runs / "live", 3)
        expect(page.locator('tr[data-run="live"] .detail')).to_contain_text("stage 4 of 5: fine-tuning")
        # the rows were drawn again from the JSON API: who answered each arm, with tokens and cost, as text
        expect(page.locator('tr[data-run="sample"] .arm-model[data-arm="RAG"]')).to_have_text(
            "RAG: llama3.1:8b <b> (gpu-box:11434), 400 / 20 tokens, 0.2300 USD")

        page.click('a[href="/runs/sample"]')
        expect(page.locator("h2", has_text="Evidence")).to_be_visible()
        expect(page.locator("body")).to_contain_text("measured best")

        page.goto("/runs/live")
        expect(page.locator("#run-status")).to_contain_text("stage 4 of 5: fine-tuning")
        write_progress(runs / "live", 4)
        expect(page.locator("#run-status")).to_contain_text("stage 5 of 5: hybrid")
        write_done_run(runs / "live")  # the run finishes: the page turns into its report
        finish_progress(runs / "live")
        expect(page.locator("h2", has_text="Evidence")).to_be_visible(timeout=15000)
        assert w.close() == []
    finally:
        code, _, err = server.stop()
        assert code == 0, err


def test_the_watch_catches_a_policy_violation_and_a_missing_file(browser, server):
    """The 'no console errors' checks above could fail: an inline style, an outside image and a 404 are all caught."""
    w = Watched(browser, server.url)
    w.page.goto("/")
    _expect()(w.page.locator("#recommendation")).to_be_visible()
    with w.page.expect_console_message(lambda m: m.type == "error"):
        w.page.evaluate("""() => { const d = document.createElement('div');
            d.innerHTML = '<p style="color:red">x</p><img src="https://example.invalid/x.png">';
            document.body.append(d); }""")
    with w.page.expect_response("**/static/missing.js"):
        w.page.evaluate("fetch('/static/missing.js')")
    problems = w.close()
    assert any("Content Security Policy" in p for p in problems), problems
    assert any(p.startswith("HTTP 404") for p in problems), problems


def test_a_person_reviews_drafted_pairs_accepting_rejecting_and_editing_each_saved_at_once(browser, tmp_path):
    """The review page of `advisor serve --review`: accept by mouse, reject and edit by keyboard, undo."""
    from tests.web.test_web_review import PASSAGE, _read, review_files

    pairs_file = review_files(tmp_path)
    review_server = Server("--runs", str(tmp_path), "--review", str(pairs_file))
    expect = _expect()
    watched = Watched(browser, review_server.url)
    page = watched.page
    page.goto("/api")  # a page without requests of its own, so leaving it aborts none
    page.get_by_role("link", name="Review pairs").click()  # the menu leads there when serving a pairs file
    expect(page).to_have_url(review_server.url + "/review")
    expect(page.get_by_role("link", name="Review pairs")).to_have_attribute("aria-current", "page")
    expect(page.locator("#progress")).to_contain_text("0 of 4 reviewed")
    expect(page.locator("#passage mark")).to_have_text("24 planting pods")  # the answer, found fuzzily
    expect(page.locator("#question")).to_have_value("How many planting pods does the Sprout Tower S3 hold?")

    page.locator("#accept").click()  # by mouse
    expect(page.locator("#progress")).to_contain_text("1 of 4 reviewed: 1 accepted")
    assert [p["review"] for p in _read(pairs_file)] == ["accepted", "unreviewed", "unreviewed", "unreviewed"]
    expect(page.locator("#question")).to_have_value("How long is the pump off in each cycle?")
    expect(page.locator("#passage mark")).to_have_text("45 minutes")

    page.keyboard.press("r")  # by keyboard
    expect(page.locator("#progress")).to_contain_text("2 of 4 reviewed: 1 accepted, 0 edited, 1 rejected")
    assert _read(pairs_file)[1]["review"] == "rejected"

    page.keyboard.press("e")
    expect(page.locator("#question")).to_be_focused()
    page.locator("#question").fill("How many hours of light does the mast give by default?")
    page.locator("#answer").fill("16 hours")
    page.keyboard.press("Enter")
    expect(page.locator("#progress")).to_contain_text("3 of 4 reviewed: 1 accepted, 1 edited, 1 rejected, 1 to go")
    edited = _read(pairs_file)[2]
    assert (edited["question"], edited["answer"], edited["review"]) == (
        "How many hours of light does the mast give by default?", "16 hours", "edited")
    assert edited["origin"] == "drafted" and edited["span"] == [100, 100 + len(PASSAGE)]

    expect(page.locator("#question")).to_have_value("What colour is the Sprout Tower S3?")
    expect(page.locator("#passage mark")).to_have_count(0)  # 'green' is not in the passage: nothing marked
    page.keyboard.press("k")
    page.keyboard.press("u")  # undo the edit's decision: back to unreviewed, the edited text stays
    expect(page.locator("#progress")).to_contain_text("2 of 4 reviewed")
    assert _read(pairs_file)[2]["review"] == "unreviewed"
    assert watched.close() == []
    code, out, err = review_server.stop()
    assert code == 0 and "Traceback" not in err, (out, err)
