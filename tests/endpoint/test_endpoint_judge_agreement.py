"""An LLM judge behind a real endpoint is one more grader in the agreement table, beside the LLM-free rule."""

from __future__ import annotations

from pathlib import Path

LABELS = Path(__file__).resolve().parents[1] / "matching" / "data" / "answer_labels.jsonl"


def test_a_judge_on_a_real_endpoint_is_scored_against_the_hand_labels_in_one_batch(server, proxy):
    from advisor.backends.agreement import GRADERS, agreement, read_labels
    from advisor.backends.judge import judged_grader
    from advisor.backends.options import EndpointOptions
    from advisor.matching import RULE_LABEL

    labels = read_labels(LABELS)
    chosen = [item for item in labels if item.label][:3] + [item for item in labels if not item.label][:3]
    proxy.plan = lambda path, body: "pass"
    options = EndpointOptions(url=proxy.url, model=server.model, concurrency=2)
    grade, verdicts = judged_grader([(i.question, i.references, i.response) for i in chosen], options)
    assert verdicts.failed is None and len(proxy.chat_requests()) == len(chosen)  # one request per item, once
    rows = {(r.grader, r.part): r for r in agreement(chosen, {**GRADERS, "judge": grade})}
    judged = rows[("judge", "all")]
    given = [v for v in verdicts.verdicts if v is not None]
    assert judged.items == 6 and judged.graded == len(given) == 6 - verdicts.off_format
    if given:  # accuracy over the items the judge gave a verdict on
        truth = [item.label for item, v in zip(chosen, verdicts.verdicts) if v is not None]
        assert judged.accuracy == sum(t == v for t, v in zip(truth, given)) / len(given)
    assert rows[(RULE_LABEL, "all")].accuracy == 1.0  # the rule on the same six, for the table beside it
    assert grade("a question not in the set", ["x"], "y") is None  # no verdict, not a guess
