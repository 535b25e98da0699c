"""Checks template.yaml beyond cfn-lint: the execution role grants nothing a rotation does not need, and the
function is configured as docs/configuration.md says. Run by `make test` (through scripts/check-template.sh).

    python3 scripts/check-template.py [TEMPLATE]    check (default: template.yaml); exit 1 naming each problem
    python3 scripts/check-template.py --self-test   prove the checks catch what they are for

Uses cfn-lint's YAML loader, which reads the intrinsic-function tags (!Ref, !If, ...).
"""

import copy
import os
import re
import sys

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every action the role may ever hold, and the conditions it may sit under ("" = unconditional).
ALLOWED = {
    "secretsmanager:DescribeSecret": {"", "HasMasterSecret"},
    "secretsmanager:GetSecretValue": {"", "HasMasterSecret"},
    "secretsmanager:PutSecretValue": {""},
    "secretsmanager:UpdateSecretVersionStage": {""},
    "kms:Decrypt": {"HasKmsKey"},
    "kms:GenerateDataKey": {"HasKmsKey"},
    "rds:DescribeDBInstances": {""},
    "rds:DescribeDBClusters": {""},
    "rds:ModifyDBInstance": {"HasBreakGlass"},
    "rds:ModifyDBCluster": {"HasBreakGlass"},
    "logs:CreateLogStream": {""},
    "logs:PutLogEvents": {""},
    "ec2:CreateNetworkInterface": {"InVpc"},
    "ec2:DescribeNetworkInterfaces": {"InVpc"},
    "ec2:DeleteNetworkInterface": {"InVpc"},
    "ec2:AssignPrivateIpAddresses": {"InVpc"},
    "ec2:UnassignPrivateIpAddresses": {"InVpc"},
}
NO_VALUE = {"Ref": "AWS::NoValue"}


def statements(template):
    """Every policy statement of every role, with the condition it sits under."""
    for name, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if isinstance(statement, dict) and "Fn::If" in statement:
                    condition, when_true, when_false = statement["Fn::If"]
                    if when_true != NO_VALUE:
                        yield name, condition, when_true
                    if when_false != NO_VALUE:
                        yield name, "!" + condition, when_false
                else:
                    yield name, "", statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def action_of(statement):
    return set(as_list(statement.get("Action", [])))


def problems(template):
    found = []
    for role, condition, statement in statements(template):
        sid = statement.get("Sid", "?")
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action", [])):
            if action not in ALLOWED:
                found.append(f"{role}/{sid}: {action} is not an action a rotation needs")
            elif condition not in ALLOWED[action]:
                under = " or ".join(sorted(c or "no condition" for c in ALLOWED[action]))
                found.append(f"{role}/{sid}: {action} must be granted under {under}")
            if action.startswith("secretsmanager:"):
                for resource in as_list(statement.get("Resource")):
                    if isinstance(resource, str) and "*" in resource:
                        found.append(f"{role}/{sid}: {action} on {resource!r}: Secrets Manager actions need named secrets")
                expected = [{"Ref": "MasterSecretArn"}] if sid == "ReadTheMasterSecret" else [{"Ref": "SecretArns"}]
                if as_list(statement.get("Resource")) != expected:
                    found.append(f"{role}/{sid}: {action} must be on {expected[0]['Ref']} only")
        if action_of(statement) & {"rds:ModifyDBInstance", "rds:ModifyDBCluster"} and as_list(
            statement.get("Resource")
        ) != [{"Ref": "BreakGlassDbArns"}]:
            found.append(f"{role}/{sid}: break-glass may modify the listed instances and clusters only (BreakGlassDbArns)")
        master_reads = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
        if sid == "ReadTheMasterSecret" and not set(as_list(statement.get("Action"))) <= master_reads:
            found.append(f"{role}/{sid}: the master secret may only be read")
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{role}/{sid}: NotAction / NotResource grant more than they name")

    resources = template["Resources"]
    function = resources["RotationFunction"]
    props = function["Properties"]
    expect = {
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Architectures": ["arm64"],
    }
    for key, value in expect.items():
        if props.get(key) != value:
            found.append(f"RotationFunction: {key} must be {value!r}")
    if function.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
        found.append("RotationFunction: Metadata.BuildMethod must be rust-cargolambda")
    if props.get("LoggingConfig", {}).get("LogFormat") != "JSON":
        found.append("RotationFunction: LoggingConfig.LogFormat must be JSON")

    permission = resources.get("SecretsManagerInvoke", {}).get("Properties", {})
    if permission.get("Principal") != "secretsmanager.amazonaws.com" or permission.get("SourceAccount") != {"Ref": "AWS::AccountId"}:
        found.append("SecretsManagerInvoke: only secretsmanager.amazonaws.com, conditioned on aws:SourceAccount")
    if not any(r.get("Type") == "AWS::CloudWatch::Alarm" for r in resources.values() if isinstance(r, dict)):
        found.append("an alarm on the function's errors is missing")

    # Every variable the template sets is one the function reads.
    sources = "".join(open(os.path.join(ROOT, "src", f)).read() for f in ("config.rs", "logging.rs"))
    for variable in props.get("Environment", {}).get("Variables", {}):
        if not re.search(r'"%s"' % re.escape(variable), sources):
            found.append(f"RotationFunction: {variable} is set but src/config.rs does not read it")
    return found


def load(path):
    template, matches = decode(path)
    if matches:
        sys.exit(f"{path}: {matches}")
    return template


def self_test():
    """Each check fires on the mistake it guards against."""
    good = load(os.path.join(ROOT, "template.yaml"))
    assert problems(good) == [], problems(good)

    def mutated(change):
        template = copy.deepcopy(good)
        change(template)
        return problems(template)

    policy = lambda t: t["Resources"]["RotationRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    cases = {
        "GetRandomPassword": lambda t: policy(t)[0]["Action"].append("secretsmanager:GetRandomPassword"),
        "named secrets": lambda t: policy(t)[0].update(Resource="*"),
        "SecretArns only": lambda t: policy(t)[0].update(Resource="arn:aws:secretsmanager:*:*:secret:*"),
        "under HasKmsKey": lambda t: policy(t).append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "k"}),
        "under HasBreakGlass": lambda t: policy(t).append({"Effect": "Allow", "Action": "rds:ModifyDBInstance", "Resource": "*"}),
        "listed instances and clusters only": lambda t: next(
            s for s in policy(t) if "Fn::If" in s and s["Fn::If"][0] == "HasBreakGlass"
        )["Fn::If"][1].update(Resource="arn:aws:rds:*:*:db:*"),
        "may only be read": lambda t: policy(t)[1]["Fn::If"][1].update(Action=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]),
        "SourceAccount": lambda t: t["Resources"]["SecretsManagerInvoke"]["Properties"].pop("SourceAccount"),
        "does not read it": lambda t: t["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"].update(NOT_A_SETTING="x"),
        "LogFormat": lambda t: t["Resources"]["RotationFunction"]["Properties"]["LoggingConfig"].update(LogFormat="Text"),
    }
    for expected, change in cases.items():
        found = mutated(change)
        assert any(expected in problem for problem in found), f"{expected!r} not caught: {found}"
    print(f"check-template self-test: {len(cases)} mistakes caught")


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    path = argv[1] if len(argv) > 1 else os.path.join(ROOT, "template.yaml")
    found = problems(load(path))
    for problem in found:
        print(f"template.yaml: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    print("check-template: the role grants only what rotation needs; the function is configured as documented")


if __name__ == "__main__":
    main(sys.argv)
