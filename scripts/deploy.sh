#!/usr/bin/env bash
# make deploy: `sam build` (cargo-lambda builds the binary, BuildMethod rust-cargolambda; ARCH=x86_64 for x86) then
# `sam deploy --guided`, which asks for the stack name, Region and template parameters (SecretArns, …) and needs
# AWS credentials. BUILD_ONLY=1 stops after the build. SAM CLI and cargo-lambda are installed when missing.
#
# CODE_S3_BUCKET=… CODE_S3_KEY=… (and CODE_S3_OBJECT_VERSION=…) deploy a released zip already in that bucket, of the
# stack's Region, instead: no build, no Rust; ARCH names the zip's architecture (rds-rotator-<version>-arm64.zip or
# -x86_64.zip). docs/configuration.md ("The SAM template") describes both.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

arch=${ARCH:-arm64}
case "$arch" in arm64 | x86_64) ;; *) die "ARCH must be arm64 or x86_64, not $arch" ;; esac
sam=$(command -v sam || pip_tool sam sam aws-sam-cli)
export SAM_CLI_TELEMETRY=0

if [ -n "${CODE_S3_BUCKET:-}" ] || [ -n "${CODE_S3_KEY:-}" ]; then
    [ -n "${CODE_S3_BUCKET:-}" ] && [ -n "${CODE_S3_KEY:-}" ] || die "a released zip needs both CODE_S3_BUCKET and CODE_S3_KEY"
    overrides=("CodeS3Bucket=$CODE_S3_BUCKET" "CodeS3Key=$CODE_S3_KEY" "Architecture=$arch")
    [ -n "${CODE_S3_OBJECT_VERSION:-}" ] && overrides+=("CodeS3ObjectVersion=$CODE_S3_OBJECT_VERSION")
    # The template as it is: its Code is the zip (CodeFromS3), which sam deploy leaves alone.
    exec "$sam" deploy --guided --capabilities CAPABILITY_IAM --template template.yaml --parameter-overrides "${overrides[@]}"
fi

cargo_lambda=$(command -v cargo-lambda || cargo_lambda_tool)
target=$([ "$arch" = arm64 ] && echo aarch64-unknown-linux-gnu || echo x86_64-unknown-linux-gnu)
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" ||
    die "the Rust standard library for $target is missing: run 'rustup target add $target'"
# sam build runs `cargo lambda build`, which finds zig beside cargo-lambda. It builds for the Architecture it is
# given, and writes the built code over the template's Code (the released-zip parameters then have no effect).
PATH="$(dirname "$cargo_lambda"):$PATH" "$sam" build --template template.yaml --parameter-overrides "Architecture=$arch"
[ "${BUILD_ONLY:-}" = 1 ] && exit 0
"$sam" deploy --guided --capabilities CAPABILITY_IAM --template .aws-sam/build/template.yaml \
    --parameter-overrides "Architecture=$arch"
