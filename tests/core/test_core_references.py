"""The rule base's bibliography: citations resolve, bad keys are reported with their place, reports and
`ask`'s help show titles and links (escaped); rule bases without references keep plain-text sources."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner
from tests.support.cli import assert_input_error

from advisor import cli
from advisor.engine import compile_rules, recommend
from advisor.errors import InputError
from advisor.questionnaire import Interrupted, help_lines, run_questionnaire
from advisor.references import citation_places, short_label
from advisor.report import render_html, render_markdown
from advisor.rulebase import check_rules, default_rules_text, dump_rules, load_rules, parse_rules

from tests.support.core import SUPPORT

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def data():
    """The bundled rule base as plain data, to break on purpose."""
    return yaml.safe_load(default_rules_text())


def _check(write, data) -> list[str]:
    return [str(p) for p in check_rules(write("rules.yaml", data))]


def _source_place(data, key: str) -> str:
    """The place of the first citation of `key` in the bundled rule base."""
    rulebase = parse_rules(copy.deepcopy(data))
    return next(place for place, src in citation_places(rulebase) if src == key)


# ---------------------------------------------------------------- the bundled rule base


def test_every_citation_of_the_default_rule_base_resolves(rulebase):
    keys = {ref.key for ref in rulebase.references}
    cited = [src for _, src in citation_places(rulebase)]
    assert cited and set(cited) <= keys  # no plain-text source is left
    assert set(cited) == keys  # and every reference is cited
    for ref in rulebase.references:
        assert ref.title.strip() and (ref.authors or ref.publisher.strip()), ref.key
        assert ref.url is None or ref.url.startswith("https://"), ref.key
    assert not any(src.endswith(".txt") for src in cited)  # file names a user does not have are gone


def test_default_references_carry_the_literature(rulebase):
    refs = {ref.key: ref for ref in rulebase.references}
    ovadia = refs["ovadia-2023"]
    assert ovadia.title == "Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs"
    assert ovadia.year == 2023 and ovadia.url == "https://arxiv.org/abs/2312.05934"
    assert short_label(ovadia) == "Ovadia et al. 2023"
    assert short_label(refs["finetunebench-2024"]) == "Wu et al. 2024"
    assert short_label(refs["anyscale-llama2-2023"]) == "Hakhamaneshi & Ahmad 2023"
    assert short_label(refs["openai-accuracy-guide"]) == "OpenAI n.d."  # undated: no year invented


def test_dump_keeps_the_references(rulebase):
    assert parse_rules(yaml.safe_load(dump_rules(rulebase))) == rulebase


# ---------------------------------------------------------------- problems, with their place


def test_unknown_key_is_reported_with_its_place_and_a_did_you_mean(write, data):
    place = _source_place(data, "ovadia-2023")
    data["questions"][1]["values"][1]["source"][0] = "ovadia-2023x"
    assert place == "questions[1].values[1].source[0]"
    problems = _check(write, data)
    assert problems == [f"{write('rules.yaml', data)}: {place}: unknown reference 'ovadia-2023x' "
                        f"(did you mean 'ovadia-2023'?); cite a key of the references section"]
    with pytest.raises(InputError, match=r"source\[0\]: unknown reference 'ovadia-2023x'"):
        load_rules(write("rules.yaml", data))


def test_an_old_short_name_suggests_the_key_by_its_label(write, data):
    data["rules"][0]["source"] = ["Gekhman 2024"]
    problems = _check(write, data)
    assert len(problems) == 1
    assert "rules[0].source[0]: unknown reference 'Gekhman 2024' (did you mean 'gekhman-2024'?)" in problems[0]


def test_cli_names_the_place_of_an_unknown_key(write, data):
    data["rules"][2]["source"] = ["raft-2042"]
    path = write("rules.yaml", data)
    result = CliRunner().invoke(cli.main, ["recommend", str(write("a.yaml", {"version": 1, "answers": SUPPORT})),
                                           "--rules", str(path)], catch_exceptions=False)
    assert_input_error(result, "rules[2].source[0]", "unknown reference 'raft-2042'", "did you mean 'raft-2024'")


def test_duplicate_and_malformed_references(write, data):
    data["references"].append({"key": "ovadia-2023", "title": "again", "publisher": "x"})
    problems = _check(write, data)
    n = len(data["references"]) - 1
    assert any(f"references[{n}].key: duplicate reference key 'ovadia-2023'" in p for p in problems), problems
    data["references"][-1] = {"key": "two words", "title": "t", "url": "javascript:alert(1)"}
    problems = _check(write, data)
    assert any(f"references[{n}].key: a reference key is one word" in p and "'two words'" in p for p in problems)
    assert any(f"references[{n}].url: expected an http:// or https:// address" in p for p in problems)
    data["references"][-1] = {"key": "anon", "title": "t"}
    problems = _check(write, data)
    assert any(f"references[{n}]: reference 'anon' names neither authors nor a publisher" in p for p in problems)


def test_an_uncited_reference_is_a_lint_problem_not_a_load_error(write, data):
    data["references"].append({"key": "unused-2020", "title": "Unused", "publisher": "Nobody", "year": 2020})
    path = write("rules.yaml", data)
    n = len(data["references"]) - 1
    assert _check(write, data) == [f"{path}: references[{n}]: reference 'unused-2020' is cited nowhere"]
    assert load_rules(path).references[-1].key == "unused-2020"  # scoring is unaffected
    result = CliRunner().invoke(cli.main, ["rules", "check", str(path)], catch_exceptions=False)
    assert result.exit_code == 0 and "warning: " in result.stderr and "cited nowhere" in result.stderr
    result = CliRunner().invoke(cli.main, ["rules", "check", "--strict", str(path)], catch_exceptions=False)
    assert result.exit_code == 2 and "cited nowhere" in result.stderr


def test_an_empty_references_section_still_asks_for_keys(write, data):
    data["references"] = []
    problems = _check(write, data)
    assert problems and all("the references section is empty" in p for p in problems)


# ---------------------------------------------------------------- rule bases without references


def test_a_rule_base_without_references_keeps_plain_text_sources(write, data):
    del data["references"]
    data["questions"][1]["values"][2]["source"] = ["Ovadia 2023", "my notes, p. 3"]
    path = write("legacy.yaml", data)
    assert check_rules(path) == []
    rulebase = load_rules(path)
    assert rulebase.references is None
    assert "references" not in yaml.safe_load(dump_rules(rulebase))  # stays a plain-text rule base
    rec = recommend(compile_rules(rulebase), SUPPORT)
    md = render_markdown(rec, rulebase)
    assert "Ovadia 2023, my notes, p. 3" in md and "## References" not in md and "](#references)" not in md
    html = render_html(rec, rulebase)
    assert "Ovadia 2023 · my notes, p. 3" in html and 'id="references"' not in html


# ---------------------------------------------------------------- reports


def test_reports_list_cited_works_with_titles_and_links(compiled, rulebase):
    rec = recommend(compiled, SUPPORT)  # external_knowledge = most cites Ovadia, Soudani, Gekhman
    html = render_html(rec, rulebase)
    assert '<section class="card" id="references">' in html
    assert ('<li id="ref-ovadia-2023"><strong>Ovadia et al. 2023</strong>: Oded Ovadia, Menachem Brief, '
            'Moshik Mishaeli, Oren Elisha (2023). <a href="https://arxiv.org/abs/2312.05934" rel="noreferrer">'
            '<cite>Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs</cite></a>') in html
    assert ('<a href="#ref-ovadia-2023" title="Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs">'
            'Ovadia et al. 2023</a>') in html
    assert "ref-balaguer-2024" not in html and "Agriculture" not in html  # only the works cited here
    md = render_markdown(rec, rulebase)
    assert "\n## References\n" in md
    assert "[Ovadia et al. 2023](#references)" in md
    assert ("- **Ovadia et al. 2023**: Oded Ovadia, Menachem Brief, Moshik Mishaeli, Oren Elisha (2023). "
            "[Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs](https://arxiv.org/abs/2312.05934). "
            "arXiv 2312.05934.") in md


def test_reference_text_is_escaped_in_both_reports(write, data):
    data["references"] = [r for r in data["references"] if r["key"] != "ovadia-2023"] + [{
        "key": "ovadia-2023", "title": f"{EVIL} | *bold* [x](javascript:alert(1))", "authors": [f"A {EVIL}"],
        "year": 2023, "url": "https://example.org/p?a=1&b=*2*", "label": f"L {EVIL}"}]
    rulebase = load_rules(write("rules.yaml", data))
    rec = recommend(compile_rules(rulebase), SUPPORT)
    html = render_html(rec, rulebase)
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://example.org/p?a=1&amp;b=*2*"' in html
    md = render_markdown(rec, rulebase)
    assert EVIL not in md and "<script" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\*bold\\* \\[x\\](javascript:alert(1))" in md
    assert "](https://example.org/p?a=1&amp;b=\\*2\\*)" in md  # CommonMark reads the link back unchanged
    assert "[L &lt;script&gt;alert(1)&lt;/script&gt;](#references)" in md


# ---------------------------------------------------------------- ask's help


def _scripted(replies):
    replies = iter(replies)

    def read(prompt: str) -> str:
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    return read


def test_ask_help_shows_the_titles_and_links_of_a_questions_sources(rulebase):
    out: list[str] = []
    with pytest.raises(Interrupted):
        run_questionnaire(rulebase, _scripted(["1", "?"]), out.append)  # help on external_knowledge
    text = "\n".join(out)
    assert "  Sources:" in text
    assert ("    - Ovadia et al. 2023: Fine-Tuning or Retrieval? Comparing Knowledge Injection in LLMs "
            "<https://arxiv.org/abs/2312.05934>") in text
    assert "    - Gekhman et al. 2024: Does Fine-Tuning LLMs on New Knowledge Encourage Hallucinations? <" in text
    sources = out[out.index("  Sources:") + 1:]
    assert [line.split(":")[0] for line in sources[:5]] == [
        "    - OpenAI n.d.", "    - RAG vs fine-tuning vs both (guide)", "    - Ovadia et al. 2023",
        "    - Soudani et al. 2024", "    - Gekhman et al. 2024"]  # each work once, in order of first citation
    assert sources[0] == ("    - OpenAI n.d.: Optimizing LLM Accuracy "
                          "<https://platform.openai.com/docs/guides/optimizing-llm-accuracy>")
    assert sources[1] == ("    - RAG vs fine-tuning vs both (guide): "
                          "RAG Vs Fine-Tuning Vs Both: A Guide For Optimizing LLM Performance")  # no address


def test_ask_help_on_the_command_line_shows_titles(tmp_path):
    result = CliRunner().invoke(
        cli.main, ["ask", "--save-answers", str(tmp_path / "a.yaml")], input="?\n", catch_exceptions=False
    )
    assert result.exit_code == 130
    assert "FineTuneBench: How well do commercial fine-tuning APIs infuse knowledge into LLMs?" in result.output
    assert "<https://arxiv.org/abs/2411.05059>" in result.output


def test_help_lines_of_a_plain_text_rule_base_show_the_sources_as_written(write, data):
    del data["references"]
    data["questions"][0]["values"][0]["source"] = ["Seed article 004"]
    rulebase = load_rules(write("legacy.yaml", data))
    lines = help_lines(rulebase, rulebase.questions[0])
    assert "    - Seed article 004" in lines


def test_adaptive_ask_help_shows_the_same_sources(rulebase):
    from advisor.analyses.adaptive import run_adaptive_questionnaire

    out: list[str] = []
    with pytest.raises(Interrupted):
        run_adaptive_questionnaire(rulebase, _scripted(["?"]), out.append)
    asked = next(line for line in out if line.startswith("Question 1 "))
    question = next(q for q in rulebase.questions if q.text in asked)
    shown = out[out.index(asked) + 1 :]
    assert help_lines(rulebase, question) == shown[1 : 1 + len(help_lines(rulebase, question))]
    assert "  Sources:" in shown
