"""Build sample/style/pairs.jsonl from the E2E NLG data in ../shared/data/e2e-nlg (CC BY-SA 4.0).

Training pairs: the first 200 meaning representations of the challenge's development set, each with its
first human description. Held out (split "test"): 60 MRs of the challenge's test set, evenly spaced, with
all their references. Deterministic; run once by the maintainers, the output is committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TRAIN, TEST = 200, 60


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/e2e-nlg")
    dev = [json.loads(line) for line in (source / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line]
    test = [json.loads(line) for line in (source / "test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    step = len(test) / TEST
    held_out = [test[int(i * step)] for i in range(TEST)]
    lines = [{"question": row["mr"], "answer": row["refs"][0]} for row in dev[:TRAIN]]
    lines += [{"question": row["mr"], "answers": row["refs"], "split": "test"} for row in held_out]
    out = Path(__file__).resolve().parent.parent / "sample" / "style" / "pairs.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    print(
        f"wrote {out}: {TRAIN} training pairs, {TEST} held out with {sum(len(r['refs']) for r in held_out)} references"
    )


if __name__ == "__main__":
    main()
