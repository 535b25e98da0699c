#!/usr/bin/env bash
# make lint: formatting, clippy with warnings as errors, the module layers ARCHITECTURE.md describes
# (scripts/check-layers.py), the docs' paths and settings (scripts/check-docs.py) and the GitHub Actions workflows
# (actionlint, with shellcheck on their scripts; pinned in scripts/lib.sh). `make test` runs it first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

CARGO=${CARGO:-cargo}
command -v python3 >/dev/null 2>&1 || apt_install python3
for component in rustfmt clippy; do
    tool=$([ "$component" = rustfmt ] && echo fmt || echo clippy)
    if ! "$CARGO" "$tool" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo $tool is missing: install the $component component"
        say "installing the $component component with rustup"
        rustup component add "$component" || die "could not install $component; run: rustup component add $component"
    fi
done
"$CARGO" fmt --check
if [ -n "${CLIPPY_IN_BUILD:-}" ]; then
    # .ci/run: clippy-driver compiles the crate in the test build (scripts/test-suite.sh), warnings denied.
    say "clippy: in the test build (RUSTC_WORKSPACE_WRAPPER=$RUSTC_WORKSPACE_WRAPPER, RUSTFLAGS=$RUSTFLAGS)"
else
    "$CARGO" clippy --all-targets --locked -- -D warnings
fi
python3 scripts/check-layers.py
python3 scripts/check-layers.py --self-test
python3 scripts/check-docs.py
actionlint=$(actionlint_tool)
# shellcheck sits beside actionlint in its virtualenv; actionlint runs it on every `run:` script it finds on PATH.
PATH="$(dirname "$actionlint"):$PATH" "$actionlint" .github/workflows/*.yml
say "actionlint: $(find .github/workflows -name '*.yml' | wc -l) workflows clean"
