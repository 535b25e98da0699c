#!/usr/bin/env bash
# make test's suite, run inside scripts/local-servers.sh: every cargo test, then the leak scan over everything the
# suite produced (scripts/leak-scan.py).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p target
output="$ROOT/target/test-output.log"
if [ -n "${CLIPPY_IN_BUILD:-}" ]; then
    # Every target through clippy-driver (.ci/run), the benchmark too, before the run reuses the build.
    ${CARGO:-cargo} test --locked --no-run --all-targets
fi
${CARGO:-cargo} test --locked 2>&1 | tee "$output"
"$TEST_MOTO_PYTHON" scripts/leak-scan.py "$output"
