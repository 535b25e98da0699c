#!/usr/bin/env bash
# make invoke STEP=createSecret: one sample event from events/ through `cargo lambda invoke`, to the function running
# under `cargo lambda watch` (the Lambda runtime emulator), against the servers `make servers` started. The first call
# creates the demo user and secret the events name and stages the events' token as RotateSecret would; then
# STEP=setSecret, testSecret and finishSecret complete the rotation.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

STEP=${STEP:-createSecret}
[ -f "events/$STEP.json" ] || die "no events/$STEP.json: STEP is createSecret, setSecret, testSecret or finishSecret"
[ -f target/local-servers.env ] || die "no local servers: run 'make servers' first"
# shellcheck disable=SC1091
. target/local-servers.env
# shellcheck source=scripts/seed.sh
. scripts/seed.sh
export DB_EXTRA_CA_BUNDLE="$TEST_TLS_CA"
seed_postgres_demo
sm has-version "$SECRET" "$TOKEN" || { sm stage "$SECRET" "$TOKEN"; say "staged AWSPENDING version $TOKEN of $SECRET"; }

cargo_lambda=$(command -v cargo-lambda || cargo_lambda_tool)
lambda_path="$(dirname "$cargo_lambda"):$PATH"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The emulator's log stays outside the project: watch restarts the function on every change in it.
log=$(mktemp)
PATH="$lambda_path" cargo lambda watch -A 127.0.0.1 -P "$port" >"$log" 2>&1 &
watch=$!
trap 'kill $watch 2>/dev/null; wait $watch 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$watch" 2>/dev/null || { cat "$log" >&2; die "cargo lambda watch stopped"; }
    sleep 0.2
done
# The sample with the secret's ARN and the rotation's RotationToken, as the service sends it.
event=$(mktemp)
sm event "$SECRET" "$STEP" >"$event"
say "invoking rds-rotator with events/$STEP.json (its SecretId and RotationToken as the service sends them)"
status=0
PATH="$lambda_path" cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file "$event" rds-rotator || status=$?
rm -f "$event"
say "the function's log:"
grep -E '"(level|fields)"' "$log" >&2 || tail -20 "$log" >&2
exit "$status"
