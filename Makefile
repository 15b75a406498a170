# Two commands do everything on a fresh machine: `make demo` and `make test` (see README.md).

.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	.venv/bin/ruff check .
	bash scripts/typecheck.sh
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q

bench: setup
	HF_HUB_OFFLINE=1 bash scripts/bench.sh
