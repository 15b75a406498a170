#!/usr/bin/env bash
# Run every benchmark; each prints a table and writes benchmarks/results/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in benchmarks/bench_*.py; do
    echo "== $bench"
    .venv/bin/python "$bench"
done
