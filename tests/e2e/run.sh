#!/usr/bin/env bash
# Runs the end-to-end suite: setup.sh, then pytest -v with the given arguments
# (from tests/e2e, so pass test files or -k expressions relative to it).
# Exits with pytest's exit code.
#
#   tests/e2e/run.sh                      # everything
#   tests/e2e/run.sh test_spine.py -x     # one file, stop at first failure
#   OIDC_BIN_DIR=target/release tests/e2e/run.sh
#   E2E_WORKERS=0 tests/e2e/run.sh         # one at a time, in this process
#
# Tests run on E2E_WORKERS pytest-xdist workers (default 3: most of a test's
# time is waiting on a person's pace or a token lifetime, not CPU), longest
# first, each followed by a short one (conftest.py); each test has its own
# provider, agent and sandbox.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/setup.sh" || exit $?

if [ -n "${OIDC_BIN_DIR:-}" ]; then
    OIDC_BIN_DIR="$(cd "$OIDC_BIN_DIR" 2>/dev/null && pwd)" || { echo "run.sh: OIDC_BIN_DIR does not exist" >&2; exit 2; }
    export OIDC_BIN_DIR
fi

cd "$HERE"
"$HERE/.venv/bin/python" -m pytest -v -n "${E2E_WORKERS:-3}" --maxschedchunk=1 --durations=15 "$@"
exit $?
