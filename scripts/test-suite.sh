#!/usr/bin/env bash
# make test's suite, run inside scripts/local-servers.sh: every cargo test, then the leak scan over everything the
# suite produced (scripts/leak-scan.py).
#
#   scripts/test-suite.sh              every test (make test's first pass, on Debian's PostgreSQL 15)
#   scripts/test-suite.sh --postgres   the suites that need the servers: tests/it, tests/restart.rs and
#                                      tests/limits.rs, for another PostgreSQL version (PG_VERSION of
#                                      scripts/local-servers.sh); make test's second pass, on 18, and each version of
#                                      make test-pg-versions. It reuses the first pass's build (same targets, same
#                                      flags: nothing is compiled again), runs every binary even after a failure
#                                      (--no-fail-fast, so the counts are whole), and writes its output to
#                                      target/test-output-pg$TEST_PG_VERSION.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p target
if [ "${1:-}" = --postgres ]; then
    # The MariaDB tests of these binaries run again too, the binaries whole rather than filtered by names: measured
    # on 18, tests/it took 116-142 s with them and 93 s with `--skip mariadb`, a cost CI's 15 minutes allow.
    output="$ROOT/target/test-output-pg${TEST_PG_VERSION:?run inside scripts/local-servers.sh}.log"
    status=0
    ${CARGO:-cargo} test --locked --no-fail-fast --test it --test restart --test limits 2>&1 | tee "$output" ||
        status=$?
    "$TEST_MOTO_PYTHON" scripts/leak-scan.py "$output" || status=$?
    exit "$status"
fi
output="$ROOT/target/test-output.log"
if [ -n "${CLIPPY_IN_BUILD:-}" ]; then
    # Every target through clippy-driver (.ci/run), the benchmark too, before the run reuses the build.
    ${CARGO:-cargo} test --locked --no-run --all-targets
fi
${CARGO:-cargo} test --locked 2>&1 | tee "$output"
"$TEST_MOTO_PYTHON" scripts/leak-scan.py "$output"
