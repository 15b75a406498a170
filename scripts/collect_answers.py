"""Collect the responses of finished validation runs as lines to label by hand (tests/matching/data/).

    python scripts/collect_answers.py runs/sample:sample runs/covid:covid-qa > to_label.jsonl

Each argument is RUN_FOLDER:SOURCE. Every arm's answers and reworded answers are written once, and the
untouched model's answers once per run (every arm's records repeat them). `label` is left null: fill it
in by reading each line, by the rules in tests/matching/data/README.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from advisor.backends.evaluation import read_answers

ARMS = ("prompt", "rag", "fine-tuning", "hybrid")


def collect(run: Path, source: str) -> list[dict]:
    rows: list[dict] = []
    untouched_done = False
    for arm in ARMS:
        if not (run / arm / "answers.jsonl").is_file():
            continue
        for kind in ("answer", "paraphrase"):
            for record in read_answers(run / arm, kind):
                references = record.references or [record.gold]
                rows.append({"question": record.question, "references": references, "response": record.response,
                             "arm": arm, "source": source, "kind": kind, "label": None})
                if kind == "answer" and not untouched_done and record.baseline_response is not None:
                    rows.append({"question": record.question, "references": references,
                                 "response": record.baseline_response, "arm": "untouched", "source": source,
                                 "kind": "answer", "label": None})
        untouched_done = True
    return rows


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for spec in argv:
        folder, _, source = spec.partition(":")
        for row in collect(Path(folder), source or Path(folder).name):
            print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
