#!/usr/bin/env bash
# Type-check the installed layout: `backends/` is the package `advisor.backends` (pyproject's package-dir), which
# mypy cannot map from the source tree, so it reads a temporary tree of links laid out as the package is
# installed. Without it every `advisor.backends.*` import would be unresolved and silently typed Any.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/advisor"
for entry in "$root"/advisor/*; do
  ln -s "$entry" "$tree/advisor/$(basename "$entry")"
done
ln -s "$root/backends" "$tree/advisor/backends"
cd "$tree"
"$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" advisor \
  | sed -e "s#^advisor/backends/#backends/#"
