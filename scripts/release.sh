#!/usr/bin/env bash
# make release: the release artifacts of the commit checked out (HEAD), built twice to show they are reproducible.
#
#   target/release-artifacts/<version>/   (under cargo's target directory)
#     rds-rotator-<version>-arm64.zip     Lambda zips (provided.al2023), one entry `bootstrap`, as `make build` makes
#     rds-rotator-<version>-x86_64.zip    them but with fixed dates and modes (scripts/release-zip.py)
#     rds-rotator-<version>-<arch>.cdx.json     CycloneDX SBOM (cargo-cyclonedx) of what that zip is built from
#     rds-rotator-<version>-<arch>.audit.json   the dependency list cargo-auditable embedded in its binary
#     BUILDINFO                           commit, toolchain and tool versions, to rebuild the same bytes
#     SHA256SUMS                          of all the above (`sha256sum -c SHA256SUMS`)
#
# What is built is HEAD as committed (`git archive`), not the work tree: uncommitted changes are left out, said
# with a warning. Then, unless VERIFY=0, everything is built again from nothing in a second, empty target
# directory and the two SHA256SUMS must be identical; a difference fails, naming the files that differ.
# The first build's target directory (target/release-build/first) is kept, so the next release rebuilds only what
# changed; the second is removed after the comparison.
#
# Tools, pinned and cached under ~/.cache/rds-rotator: cargo-lambda and zig (PyPI, scripts/lib.sh), cargo-auditable,
# rust-audit-info and cargo-cyclonedx (crates.io, built once: about 2 minutes on 2 cores). A whole run took 15.5
# minutes on 2 shared cores (docs/releasing.md). The Rust toolchain is the
# one on PATH; BUILDINFO records it, and a rebuild elsewhere needs the same (rustc 1.95.0 for 0.1.0).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

CARGO_AUDITABLE_VERSION=0.7.7
RUST_AUDIT_INFO_VERSION=0.5.4
CARGO_CYCLONEDX_VERSION=0.5.9
ARCHES=(arm64 x86_64)

command -v git >/dev/null 2>&1 || apt_install git
command -v python3 >/dev/null 2>&1 || apt_install python3
git rev-parse --verify -q HEAD >/dev/null || die "make release builds a git commit: this is not a git checkout"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
    say "warning: the work tree has uncommitted changes; the release is built from HEAD as committed, without them"

version=$("${CARGO:-cargo}" metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')
# Resolved once: a commit made while make release runs does not change what its second build builds.
commit=$(git rev-parse HEAD)
# Dates inside the artifacts (the zip entries, the SBOM) are the commit's, so they are the same on every rebuild.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct "$commit")}
export SOURCE_DATE_EPOCH
target_root="$(cargo_target_dir)"
out="$target_root/release-artifacts/$version"
cargo_home=${CARGO_HOME:-$HOME/.cargo}
sysroot=$(rustc --print sysroot)

cargo_lambda=$(cargo_lambda_tool)
cargo_auditable=$(cargo_tool cargo-auditable "$CARGO_AUDITABLE_VERSION")
rust_audit_info=$(cargo_tool rust-audit-info "$RUST_AUDIT_INFO_VERSION")
cargo_cyclonedx=$(cargo_tool cargo-cyclonedx "$CARGO_CYCLONEDX_VERSION")
for target in aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu; do
    if command -v rustup >/dev/null 2>&1; then
        rustup target list --installed | grep -qx "$target" || rustup target add "$target" ||
            die "the Rust standard library for $target is missing and could not be downloaded: run 'rustup target add $target'"
    fi
done
zig=$(dirname "$cargo_lambda")/python
zig_version=$("$zig" -m ziglang version)

arch_target() { case "$1" in arm64) echo aarch64-unknown-linux-gnu ;; x86_64) echo x86_64-unknown-linux-gnu ;; esac; }
arch_flag() { case "$1" in arm64) echo --arm64 ;; x86_64) echo --x86-64 ;; esac; }
# What cargo-lambda 1.9.2 chooses: Graviton2 (Neoverse N1) for arm64, Haswell for x86_64.
arch_cpu() { case "$1" in arm64) echo neoverse-n1 ;; x86_64) echo haswell ;; esac; }

# build BUILD_DIR OUT_DIR: every artifact from HEAD, built in BUILD_DIR (source and cargo target directory).
build() {
    local dir=$1 dest=$2 src="$1/source" arch target binary
    rm -rf "$src" "$dest"
    mkdir -p "$src" "$dest"
    git archive --format=tar "$commit" | tar -x -C "$src"
    # Paths that would otherwise end up in the binaries (panic and tracing locations name the registry's sources)
    # and the toolchain's, mapped to fixed names; nothing else of the build machine's is in them (no build id, no
    # date; the C code of aws-lc names its files relatively).
    local maps=("$cargo_home=/cargo" "$dir=/build" "$sysroot=/rust") map rustflags
    for arch in "${ARCHES[@]}"; do
        target=$(arch_target "$arch")
        # cargo-lambda passes its CPU choice as build.rustflags, which any RUSTFLAGS replace: name it here as
        # cargo-lambda CARGO_LAMBDA_VERSION does, so the release is the code `make build` makes.
        rustflags=("-Ctarget-cpu=$(arch_cpu "$arch")")
        for map in "${maps[@]}"; do rustflags+=("--remap-path-prefix=$map"); done
        say "building $arch ($target) in $dir"
        # cargo auditable runs `cargo lambda build` with itself as the workspace's rustc wrapper: the binary gets a
        # .dep-v0 section holding its dependency tree. cargo-lambda finds zig beside it (first on PATH).
        (cd "$src" && PATH="$(dirname "$cargo_lambda"):$PATH" CARGO_TARGET_DIR="$dir/target" \
            RDS_ROTATOR_COMMIT="$commit" CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; echo "${rustflags[*]}")" \
            "$cargo_auditable" auditable lambda build --release --locked "$(arch_flag "$arch")" --output-format binary)
        binary="$dir/target/lambda/rds-rotator/bootstrap"
        python3 "$src/scripts/release-zip.py" "$binary" "$dest/rds-rotator-$version-$arch.zip" >&2
        "$rust_audit_info" "$binary" | python3 -m json.tool --sort-keys >"$dest/rds-rotator-$version-$arch.audit.json" ||
            die "no dependency list embedded in the $arch binary (cargo auditable did not take part in the build)"
        # The SBOM of this target's dependency graph: the targets' graphs differ (curve25519-dalek's x86_64 backend).
        (cd "$src" && "$cargo_cyclonedx" cyclonedx --quiet --format json --spec-version 1.5 --target "$target" \
            --override-filename "sbom-$arch")
        # Its references name the package by its source folder: the fixed one the binaries' paths are mapped to.
        python3 -c 'import sys; path, old, new = sys.argv[1:]; text = open(path).read(); open(path, "w").write(text.replace(old, new))' \
            "$src/sbom-$arch.json" "path+file://$src#" "path+file:///build/source#"
        mv "$src/sbom-$arch.json" "$dest/rds-rotator-$version-$arch.cdx.json"
        python3 "$src/scripts/release-check.py" "$dest/rds-rotator-$version-$arch.cdx.json" \
            "$dest/rds-rotator-$version-$arch.audit.json"
    done
    {
        echo "rds-rotator $version"
        echo "commit $commit"
        echo "SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH"
        rustc --version
        echo "cargo-lambda $CARGO_LAMBDA_VERSION, zig $zig_version"
        echo "cargo-auditable $CARGO_AUDITABLE_VERSION, cargo-cyclonedx $CARGO_CYCLONEDX_VERSION"
        echo "built with: make release (scripts/release.sh)"
    } >"$dest/BUILDINFO"
    (cd "$dest" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort |
        xargs sha256sum >SHA256SUMS)
}

start=$SECONDS
build "$target_root/release-build/first" "$out"
say "built in $((SECONDS - start)) s: $out"
(cd "$out" && stat -c '%s %n' -- *.zip *.json BUILDINFO | sed 's/^/  /' >&2)

if [ "${VERIFY:-1}" = 0 ]; then
    say "VERIFY=0: not rebuilt, so not shown reproducible"
    exit 0
fi
second="$target_root/release-build/second"
rm -rf "$second"
check_start=$SECONDS
build "$second" "$second/artifacts"
if ! diff -u "$out/SHA256SUMS" "$second/artifacts/SHA256SUMS" >&2; then
    for binary_arch in "${ARCHES[@]}"; do
        say "$binary_arch: bootstrap $(unzip -p "$out/rds-rotator-$version-$binary_arch.zip" bootstrap | sha256sum | cut -c1-16) first, $(unzip -p "$second/artifacts/rds-rotator-$version-$binary_arch.zip" bootstrap | sha256sum | cut -c1-16) second"
    done
    die "NOT REPRODUCIBLE: a rebuild of $commit in an empty target directory gave other bytes (above); both are kept: $out and $second/artifacts"
fi
rm -rf "$second"
say "reproducible: a second build from nothing ($((SECONDS - check_start)) s) gave the same bytes, SHA256SUMS:"
sed 's/^/  /' "$out/SHA256SUMS" >&2
say "done in $((SECONDS - start)) s: $out"
