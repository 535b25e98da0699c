"""Checks template.yaml beyond cfn-lint: the execution role grants nothing a rotation does not need, and the
function is configured as docs/configuration.md says. Run by `make test` (through scripts/check-template.sh).

    python3 scripts/check-template.py [TEMPLATE]    check (default: template.yaml); exit 1 naming each problem
    python3 scripts/check-template.py --self-test   prove the checks catch what they are for
    python3 scripts/check-template.py --cdk TEMPLATE.json [--self-test]
                                                    the same rules on a template synthesized from cdk/ (its own
                                                    resources instead of template.yaml's parameters and conditions)

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
    if argv[1:2] == ["--cdk"]:
        return cdk_main(argv[2:])
    if argv[1:] == ["--self-test"]:
        return self_test()
    path = argv[1] if len(argv) > 1 else os.path.join(ROOT, "template.yaml")
    found = problems(load(path))
    for problem in found:
        print(f"template.yaml: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    print("check-template: the role grants only what rotation needs; the function is configured as documented")


# A template synthesized from cdk/ (scripts/cdk-test.sh): the rules above, checked on what CDK resolved. There are no
# parameters or conditions there: a grant is judged by the function it serves (in a VPC or not, break-glass on or
# not) and by the secrets it names, and every secret scheduled to the function must be one its role may rotate.

def cdk_functions(template):
    """The rds-rotator functions: runtime provided.al2023, handler bootstrap."""
    return {
        name: r for name, r in template["Resources"].items()
        if isinstance(r, dict) and r.get("Type") == "AWS::Lambda::Function"
        and r["Properties"].get("Runtime") == "provided.al2023" and r["Properties"].get("Handler") == "bootstrap"
    }


def refers_to(value, name):
    return value == {"Ref": name} or (isinstance(value, dict) and value.get("Fn::GetAtt", [None])[0] == name)


def cdk_statements(template, role):
    """Every statement the role holds: its inline policies and the policies attached to it."""
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    for resource in resources.values():
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role} in resource[
            "Properties"
        ].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    return [statement for document in documents for statement in as_list(document["Statement"])]


def cdk_problems(template):
    import json

    found = []
    resources = template["Resources"]
    functions = cdk_functions(template)
    if not functions:
        return ["no rds-rotator function (runtime provided.al2023, handler bootstrap) in the template"]
    sources = "".join(open(os.path.join(ROOT, "src", f)).read() for f in ("config.rs", "logging.rs"))
    for fn, function in functions.items():
        props = function["Properties"]
        variables = props.get("Environment", {}).get("Variables", {})
        for key, value in {"Timeout": 150, "MemorySize": 128}.items():
            if props.get(key) != value:
                found.append(f"{fn}: {key} must be {value}, as template.yaml's")
        if props.get("LoggingConfig", {}).get("LogFormat") != "JSON":
            found.append(f"{fn}: LoggingConfig.LogFormat must be JSON")
        for variable in variables:
            if not re.search(r'"%s"' % re.escape(variable), sources):
                found.append(f"{fn}: {variable} is set but src/config.rs does not read it")
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        if resources.get(role, {}).get("Type") != "AWS::IAM::Role":
            found.append(f"{fn}: its role is not in the template, so its grants cannot be checked")
            continue
        if resources[role]["Properties"].get("ManagedPolicyArns"):
            found.append(f"{role}: managed policies grant more than the rotation needs")
        rotatable = []
        for statement in cdk_statements(template, role):
            sid = statement.get("Sid", "?")
            if "NotAction" in statement or "NotResource" in statement:
                found.append(f"{role}/{sid}: NotAction / NotResource grant more than they name")
            if statement.get("Effect") != "Allow":
                continue
            actions = set(as_list(statement.get("Action", [])))
            targets = as_list(statement.get("Resource"))
            for action in sorted(actions):
                if action not in ALLOWED:
                    found.append(f"{role}/{sid}: {action} is not an action a rotation needs")
            if actions & {a for a in ALLOWED if a.startswith("ec2:")} and "VpcConfig" not in props:
                found.append(f"{role}/{sid}: network-interface actions, but {fn} is in no VPC")
            if actions & {"rds:ModifyDBInstance", "rds:ModifyDBCluster"}:
                listed = variables.get("BREAK_GLASS_DB_IDENTIFIERS")
                if variables.get("BREAK_GLASS_MASTER_RESET") != "true":
                    found.append(f"{role}/{sid}: break-glass actions, but {fn} has break-glass off")
                elif isinstance(listed, str) and sorted(listed.split(",")) != sorted(map(str, targets)):
                    found.append(f"{role}/{sid}: break-glass may modify the listed instances and clusters only")
            if any(a.startswith("kms:") for a in actions):
                via = json.dumps(statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
                if "secretsmanager." not in via:
                    found.append(f"{role}/{sid}: KMS only through Secrets Manager (a kms:ViaService condition)")
            if any(a.startswith("secretsmanager:") for a in actions):
                for target in targets:
                    if "*" in json.dumps(target):
                        found.append(f"{role}/{sid}: {target!r}: Secrets Manager actions need named secrets")
                if sid == "ReadTheMasterSecret" and not actions <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}:
                    found.append(f"{role}/{sid}: the master secret may only be read")
                if "secretsmanager:PutSecretValue" in actions:
                    rotatable += [json.dumps(t).replace("-??????", "") for t in targets]
        permissions = [
            name for name, r in resources.items()
            if r.get("Type") == "AWS::Lambda::Permission" and refers_to(r["Properties"].get("FunctionName"), fn)
        ]
        if not permissions:
            found.append(f"{fn}: no permission lets Secrets Manager invoke it")
        for name in permissions:
            permission = resources[name]["Properties"]
            account = permission.get("SourceAccount")
            if permission.get("Principal") != "secretsmanager.amazonaws.com" or not (
                account == {"Ref": "AWS::AccountId"} or re.fullmatch(r"\d{12}", str(account))
            ):
                found.append(f"{name}: only secretsmanager.amazonaws.com, conditioned on aws:SourceAccount")
        for name, r in resources.items():
            if r.get("Type") != "AWS::SecretsManager::RotationSchedule":
                continue
            if not refers_to(r["Properties"].get("RotationLambdaARN"), fn):
                continue
            if json.dumps(r["Properties"]["SecretId"]) not in rotatable:
                found.append(f"{name}: its secret is scheduled to {fn}, whose role may not rotate it")
            if not set(as_list(r.get("DependsOn", []))) & set(permissions):
                found.append(f"{name}: must depend on the invoke permission (the first rotation starts at once)")
        if not any(
            r.get("Type") == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Errors"
            and any(refers_to(d.get("Value"), fn) for d in r["Properties"].get("Dimensions", []))
            for r in resources.values()
        ):
            found.append(f"{fn}: an alarm on the function's errors is missing")
    return found


def cdk_self_test(path):
    """Each check fires on its mistake, made in a synthesized template with a VPC, a KMS key and schedules."""
    good = load(path)
    assert cdk_problems(good) == [], cdk_problems(good)
    resources = good["Resources"]
    fn = next(iter(cdk_functions(good)))
    role = resources[fn]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = lambda t: cdk_statements(t, role)
    by_sid = lambda t, sid: next(s for s in statements(t) if s.get("Sid") == sid)
    function = lambda t: t["Resources"][fn]["Properties"]
    typed = lambda t, kind: [r for r in t["Resources"].values() if r.get("Type") == kind]
    cases = {
        "GetRandomPassword": lambda t: by_sid(t, "RotateTheNamedSecrets")["Action"].append("secretsmanager:GetRandomPassword"),
        "need named secrets": lambda t: by_sid(t, "RotateTheNamedSecrets").update(Resource="*"),
        "whose role may not rotate it": lambda t: by_sid(t, "RotateTheNamedSecrets")["Resource"].pop(),
        "may only be read": lambda t: by_sid(t, "ReadTheMasterSecret")["Action"].append("secretsmanager:PutSecretValue"),
        "kms:ViaService": lambda t: by_sid(t, "UseTheSecretsKey").pop("Condition"),
        "in no VPC": lambda t: function(t).pop("VpcConfig"),
        "break-glass off": lambda t: next(
            p["Properties"]["PolicyDocument"]["Statement"] for p in typed(t, "AWS::IAM::Policy")
            if {"Ref": role} in p["Properties"].get("Roles", [])
        ).append({"Effect": "Allow", "Action": "rds:ModifyDBInstance", "Resource": "arn:aws:rds:eu-west-1:1:db:x"}),
        "managed policies": lambda t: t["Resources"][role]["Properties"].update(ManagedPolicyArns=["arn:aws:iam::aws:policy/x"]),
        "SourceAccount": lambda t: [p["Properties"].pop("SourceAccount") for p in typed(t, "AWS::Lambda::Permission")],
        "depend on the invoke permission": lambda t: typed(t, "AWS::SecretsManager::RotationSchedule")[0].pop("DependsOn"),
        "does not read it": lambda t: function(t)["Environment"]["Variables"].update(NOT_A_SETTING="x"),
        "LogFormat": lambda t: function(t)["LoggingConfig"].update(LogFormat="Text"),
        "alarm": lambda t: [a["Properties"].update(MetricName="Throttles") for a in typed(t, "AWS::CloudWatch::Alarm")],
    }
    for expected, change in cases.items():
        template = copy.deepcopy(good)
        change(template)
        found = cdk_problems(template)
        assert any(expected in problem for problem in found), f"{expected!r} not caught: {found}"
    print(f"check-template --cdk self-test: {len(cases)} mistakes caught")


def cdk_main(args):
    if len(args) == 2 and args[1] == "--self-test":
        return cdk_self_test(args[0])
    if len(args) != 1:
        sys.exit("usage: check-template.py --cdk TEMPLATE.json [--self-test]")
    found = cdk_problems(load(args[0]))
    for problem in found:
        print(f"{args[0]}: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    print("check-template --cdk: the role grants only what rotation needs, on the scheduled secrets; the function is configured as documented")


if __name__ == "__main__":
    main(sys.argv)
