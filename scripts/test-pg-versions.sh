#!/usr/bin/env bash
# make test-pg-versions: the PostgreSQL suites (scripts/test-suite.sh --postgres: tests/it, tests/restart.rs,
# tests/limits.rs) on each PostgreSQL version in turn — 15 (Debian's), 16, 17, 18 (npm builds pinned in
# scripts/local-servers.sh) — each on a set of servers of its own, then a summary: version, tests passed and failed,
# wall time, and the failed tests by name. Every version runs even when an earlier one failed; the exit status is 1
# if any test failed. PG_VERSIONS="16 18" runs only those. Not part of make test or CI (make test runs 15 and 18).
#
# Each version's whole output: target/test-pg-versions-<version>.log; the summary: target/test-pg-versions.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

versions=${PG_VERSIONS:-15 16 17 18}
mkdir -p target
# One build, before the clocks start; every version runs the same binaries.
${CARGO:-cargo} test --locked --no-run --test it --test restart --test limits
# The servers' binaries too, so that a version's time is its run, not a download.
for version in $versions; do
    PG_VERSION=$version scripts/local-servers.sh install >/dev/null
done

summary="$ROOT/target/test-pg-versions.txt"
failed_any=0
{
    printf '%-8s %-8s %-8s %-8s %s\n' version server passed failed "wall time"
} >"$summary"
failures=""
for version in $versions; do
    log="$ROOT/target/test-pg-versions-$version.log"
    say "PostgreSQL $version: running (output: $log)"
    start=$(date +%s)
    status=0
    PG_VERSION=$version scripts/local-servers.sh run -- scripts/test-suite.sh --postgres >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    server=$(sed -n 's/^local-servers: PostgreSQL \([0-9.]*\) .*/\1/p' "$log" | head -1)
    passed=$(sed -n 's/^test result: .* \([0-9]*\) passed; .*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    failed=$(sed -n 's/^test result: .* \([0-9]*\) failed; .*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    # A failure outside the tests (servers that did not start, the leak scan) counts as one.
    if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed="1 (exit $status, see the log)"; fi
    [ "$status" = 0 ] || failed_any=1
    printf '%-8s %-8s %-8s %-8s %dm%02ds\n' "$version" "${server:-?}" "$passed" "$failed" $((elapsed / 60)) $((elapsed % 60)) >>"$summary"
    names=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/  \1/p' "$log" | sort)
    [ -z "$names" ] || failures+="PostgreSQL $version:"$'\n'"$names"$'\n'
done
[ -z "$failures" ] || printf '\nfailed tests:\n%s' "$failures" >>"$summary"
cat "$summary"
exit "$failed_any"
