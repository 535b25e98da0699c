#!/usr/bin/env bash
# make build: the Lambda deployment zip, target/lambda/rds-rotator/bootstrap.zip (under cargo's target directory,
# CARGO_TARGET_DIR when set), built by cargo-lambda (installed prebuilt from PyPI, with zig for cross-compiling,
# when missing: building it from crates.io takes ~17 minutes).
#   ARCH=arm64 (default, as template.yaml) or ARCH=x86_64
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

arch=${ARCH:-arm64}
case "$arch" in
    arm64) target=aarch64-unknown-linux-gnu flag=--arm64 ;;
    x86_64) target=x86_64-unknown-linux-gnu flag=--x86-64 ;;
    *) die "ARCH must be arm64 or x86_64" ;;
esac
cargo_lambda=$(command -v cargo-lambda || cargo_lambda_tool)
if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" ||
        die "the Rust standard library for $target is missing and could not be downloaded: run 'rustup target add $target', or build for x86_64 with ARCH=x86_64"
else
    say "no rustup here: the Rust standard library for $target must already be installed"
fi
# cargo finds `cargo lambda` on PATH, and cargo-lambda finds zig in the same virtualenv: first on PATH, for it only.
PATH="$(dirname "$cargo_lambda"):$PATH" cargo lambda build --release "$flag" --output-format zip
zip="$(cargo_target_dir)/lambda/rds-rotator/bootstrap.zip"
say "built $zip for $arch: $(stat -c %s "$zip") bytes"
