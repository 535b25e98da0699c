#!/usr/bin/env bash
# make cdk-test (part of make test): the CDK construct in cdk/ — its tests (node's test runner on aws-cdk-lib's
# assertions and cdk-nag), then its example app synthesized into a temporary directory and checked like
# template.yaml: cfn-lint, and the least-privilege checks of scripts/check-template.py --cdk with their self-test.
# Offline once installed; no AWS account is called.
#
# cdk/node_modules is installed with `npm ci` only when package-lock.json (or Node's version) changed since the last
# install; npm's download cache is ~/.cache/rds-rotator/npm, so a fresh machine downloads the packages once.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT/cdk"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node $(node --version) is too old: aws-cdk-lib needs Node 20 or later (https://nodejs.org)"

export npm_config_cache="$CACHE/npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
stamp=node_modules/.installed-lock
want=$({ sha256sum package-lock.json; node --version; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing cdk/node_modules with npm ci (cache: $npm_config_cache)"
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2 ||
        die "npm ci failed; behind a proxy that intercepts HTTPS, set npm_config_cafile or npm_config_registry"
    echo "$want" >"$stamp"
fi

# Incremental: tsc rebuilds only what changed (dist/.tsbuildinfo). Tests are the compiled test/*.test.ts, so a test
# file deleted from test/ does not live on in dist/.
node_modules/.bin/tsc
tests=()
for source in test/*.test.ts; do tests+=("dist/test/$(basename "$source" .ts).js"); done
node --test "${tests[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
template=$(node dist/test/example-app.js "$work/cdk.out")
if python3 -c 'import cfnlint' 2>/dev/null && command -v cfn-lint >/dev/null 2>&1; then
    python=python3 lint=cfn-lint
else
    lint=$(pip_tool cfn-lint cfn-lint 'cfn-lint>=1')
    python="$CACHE/cfn-lint/bin/python"
fi
# W3005 (a DependsOn that a GetAtt already implies) is aws-cdk-lib's own: lambda.Function always depends on its role.
"$lint" "$template" --ignore-checks W3005
say "cfn-lint: the example app's template is clean (W3005 ignored)"
"$python" "$ROOT/scripts/check-template.py" --cdk "$template"
"$python" "$ROOT/scripts/check-template.py" --cdk "$template" --self-test
