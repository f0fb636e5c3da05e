#!/usr/bin/env bash
# Refresh requirements/test.lock.txt, the tested dependency set that .ci/run and the README's
# set-up install: every package of `pip install -e ".[test]"`, pinned, resolved by pip-tools for
# this project's machine (CPython 3.11, Linux x86-64, torch's CPU wheel).  Then run
# `bash .ci/run` (the new lock) and `CI_LATEST=1 bash .ci/run`, and commit the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet pip-tools
"$work/venv/bin/pip-compile" --upgrade --quiet --extra test --strip-extras \
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
  --output-file requirements/test.lock.txt pyproject.toml
git diff --stat -- requirements/test.lock.txt || true
