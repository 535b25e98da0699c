#!/usr/bin/env bash
# make deploy: `sam build` (cargo-lambda builds the arm64 binary, BuildMethod rust-cargolambda) then
# `sam deploy --guided`, which asks for the stack name, Region and template parameters (SecretArns, …) and needs
# AWS credentials. BUILD_ONLY=1 stops after the build. SAM CLI and cargo-lambda are installed when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

sam=$(command -v sam || pip_tool sam sam aws-sam-cli)
cargo_lambda=$(command -v cargo-lambda || cargo_lambda_tool)
rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu ||
    die "the Rust standard library for aarch64-unknown-linux-gnu is missing: run 'rustup target add aarch64-unknown-linux-gnu'"
# sam build runs `cargo lambda build`, which finds zig beside cargo-lambda.
PATH="$(dirname "$cargo_lambda"):$PATH" SAM_CLI_TELEMETRY=0 "$sam" build --template template.yaml
[ "${BUILD_ONLY:-}" = 1 ] && exit 0
SAM_CLI_TELEMETRY=0 "$sam" deploy --guided --capabilities CAPABILITY_IAM --template .aws-sam/build/template.yaml
