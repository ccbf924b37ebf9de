#!/usr/bin/env bash
# Set up (idempotent, see scripts/setup.sh), lint, and run the whole test suite.
# The README's test command and CI (.ci/run) are this script. Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${C2F_SDF_VENV:-$repo/.venv}

"$repo/scripts/setup.sh"
cd "$repo"
echo '[test] ruff check'
"$venv/bin/ruff" check .
echo '[test] pytest'
# pytest exits non-zero when a test fails and also (5) when none ran: both fail the run.
"$venv/bin/python" -m pytest "$@"
