#!/usr/bin/env bash
# make check-template (part of make test): template.yaml through cfn-lint; scripts/check-template.py, which resolves
# every combination of the deployment choices (created or given role, own or AWS's SAR parameter names or no secret
# ARNs, released zip or local build, VPC, master secret, KMS key, boundary) and checks each for least privilege and
# configuration, and lints each with cfn-lint as `sam validate --lint` does (with its self-test); and `sam validate
# --lint` of the template itself. All offline, under a minute. cfn-lint and the SAM CLI are installed into
# ~/.cache/rds-rotator when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

if python3 -c 'import cfnlint' 2>/dev/null && command -v cfn-lint >/dev/null 2>&1; then
    python=python3 lint=cfn-lint
else
    lint=$(pip_tool cfn-lint cfn-lint 'cfn-lint>=1')
    python="$CACHE/cfn-lint/bin/python"
fi
"$lint" template.yaml
"$python" scripts/check-template.py
"$python" scripts/check-template.py --self-test

sam=$(command -v sam || pip_tool sam sam aws-sam-cli)
# --lint reads a region and credentials but calls nothing; the emulator's endpoint, if set, is not for it.
env -u AWS_ENDPOINT_URL AWS_REGION="${AWS_REGION:-us-east-1}" AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-none}" \
    AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-none}" SAM_CLI_TELEMETRY=0 \
    "$sam" validate --lint --template template.yaml
