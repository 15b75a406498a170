"""Two torchrun CPU processes give the numbers of one process: loss curve, adapter, answers, validation.json."""

from __future__ import annotations

import json

from tests.support.launch import LOSS_TOLERANCE


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_both_ranks_trained_their_share_of_the_same_global_batches(validations):
    one, two = (_json(v / "fine-tuning" / "metrics.json")["train"] for v in validations)
    assert (one["launcher"], one["world_size"], one["per_process_batch"]) == (None, 1, 8)
    assert (two["launcher"], two["world_size"], two["per_process_batch"]) == ("torchrun", 2, 4)
    assert len(two["rank_tokens"]) == 2 and min(two["rank_tokens"]) > 0
    # The shards of every global batch together are exactly the one-process batches.
    assert sum(two["rank_tokens"]) == one["rank_tokens"][0]
    assert two["steps"] == one["steps"] == 4


def test_loss_curve_matches_one_process_within_tolerance(validations):
    one, two = (_json(v / "fine-tuning" / "loss.json")["steps"] for v in validations)
    assert [s["step"] for s in one] == [s["step"] for s in two]
    assert one[0]["train_loss"] == two[0]["train_loss"]  # LoRA's B starts at zero: dropout cannot matter yet
    for a, b in zip(one, two):
        assert abs(a["train_loss"] - b["train_loss"]) <= LOSS_TOLERANCE, (a, b)
        assert (a["val_loss"] is None) == (b["val_loss"] is None)
        if a["val_loss"] is not None:
            assert abs(a["val_loss"] - b["val_loss"]) <= LOSS_TOLERANCE, (a, b)
    assert one[-1]["train_loss"] < one[0]["train_loss"]  # it did learn


def test_one_adapter_saved_by_the_main_process_and_nothing_left_beside_it(validations):
    _, two = validations
    assert (two / "fine-tuning" / "adapter" / "adapter_config.json").is_file()
    assert not (two / "fine-tuning" / "interrupted").exists()
    assert sorted(p.name for p in two.iterdir()) == [".baseline", "fine-tuning", "progress.json", "rag", "report.html",
                                                     "report.md", "validation.json"]
    assert _json(two / "progress.json")["state"] == "done"  # written by the main process only, last


def test_validation_json_numbers_agree_with_one_process(validations):
    one, two = (_json(v / "validation.json") for v in validations)
    for key in ("recommended", "best_measured", "tied_with_best", "metric", "questions", "baseline", "verdict"):
        if key == "baseline":  # answers per second is a timing, not a number the processes must agree on
            for run in (one, two):
                (run[key].get("usage") or {}).pop("answers_per_second", None)
        assert one[key] == two[key], key
    for approach in ("fine-tuning", "rag"):
        a, b = one["approaches"][approach], two["approaches"][approach]
        assert a["status"] == b["status"] == "ok"
        assert a["answers"] == b["answers"]
        assert a.get("retrieval") == b.get("retrieval")
        assert a["compared_to_baseline"] == b["compared_to_baseline"]
    assert [c["difference"] for c in one["comparisons"]] == [c["difference"] for c in two["comparisons"]]
    # Answers were sharded over the ranks and gathered back in the held-out order, word for word.
    for approach in ("fine-tuning", "rag"):
        rows = [[(r["line"], r["response"], r.get("baseline_response"))
                 for r in map(json.loads, (v / approach / "answers.jsonl").read_text().splitlines())]
                for v in validations]
        assert rows[0] == rows[1]
    # Short answers score zero here, so the word-for-word check above is the strong one; retrieval is scored.
    assert one["approaches"]["rag"]["retrieval"]["recall_at_k"] > 0
