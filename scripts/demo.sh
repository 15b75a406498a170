#!/usr/bin/env bash
# The main job on the bundled sample project: answers -> recommendation -> validated pipelines -> report.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
out="${OUT:-runs/sample}"
.venv/bin/advisor validate sample/answers.yaml --docs sample/docs --qa sample/qa.jsonl --out "$out"
