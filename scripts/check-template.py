"""Checks template.yaml beyond cfn-lint: the execution role grants nothing a rotation does not need, the function is
configured as docs/configuration.md says, and the template is one the Serverless Application Repository publishes and
AWS's rotation apps' stacks can switch to. Run by `make test` (through scripts/check-template.sh).

    python3 scripts/check-template.py [TEMPLATE]    check (default: template.yaml); exit 1 naming each problem
    python3 scripts/check-template.py --self-test   prove the checks catch what they are for
    python3 scripts/check-template.py --cdk TEMPLATE.json [--self-test]
                                                    the same rules on a template synthesized from cdk/ (its own
                                                    resources instead of template.yaml's parameters and conditions)

The template's conditions make many templates of one. Each combination of the deployment choices (COMBINATIONS:
created or given role, rds-rotator's names or AWS's SAR names or no secret ARNs, released zip or local build, VPC,
master secret, KMS key, permissions boundary) is resolved here into the plain template CloudFormation would deploy,
then checked: least privilege, the function's environment against what src/config.rs reads and its defaults, the
invoke permission; and linted with cfn-lint's API as `sam validate --lint` calls it (--no-lint skips that).

Uses cfn-lint's YAML loader, which reads the intrinsic-function tags (!Ref, !If, ...).
"""

import copy
import itertools
import json
import os
import re
import sys

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_VALUE = {"Ref": "AWS::NoValue"}
ROTATION_ACTIONS = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
}
MASTER_READS = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
VPC_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
# Every action the role may ever hold, and when (a predicate of the resolved choices, Want below).
ALLOWED = {
    **{action: lambda w: True for action in ROTATION_ACTIONS},
    "kms:Decrypt": lambda w: bool(w.kms_keys),
    "kms:GenerateDataKey": lambda w: bool(w.kms_keys),
    "rds:DescribeDBInstances": lambda w: True,
    "rds:DescribeDBClusters": lambda w: True,
    "rds:ModifyDBInstance": lambda w: bool(w.break_glass),
    "rds:ModifyDBCluster": lambda w: bool(w.break_glass),
    "logs:CreateLogStream": lambda w: True,
    "logs:PutLogEvents": lambda w: True,
    **{action: lambda w: w.in_vpc for action in VPC_ACTIONS},
}
ALLOW_ROTATION_LAMBDA_ARN = "secretsmanager:resource/AllowRotationLambdaArn"

# AWS's Serverless Application Repository rotation apps' parameters (AWS's Secrets Manager guide, "Automatically
# rotate another type of secret"; aws-cdk's SecretRotation; Terraform's aws_serverlessapplicationrepository_
# cloudformation_stack example), and the output their stacks read.
SAR_PARAMETERS = {
    "endpoint", "functionName", "invokingServicePrincipal", "kmsKeyArn", "vpcSubnetIds", "vpcSecurityGroupIds",
    "excludeCharacters", "masterSecretArn", "masterSecretKmsKeyArn",
}
SAR_OUTPUT = "RotationLambdaARN"
# The capabilities AWS's apps' stacks acknowledge (Terraform's example; SAR's "Acknowledging application
# capabilities"): IAM resources without custom names, and a resource policy (the Lambda permission).
SAR_CAPABILITIES = {"CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"}
IAM_TYPES = {"AWS::IAM::Group", "AWS::IAM::InstanceProfile", "AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
NAMED_IAM = {"RoleName", "GroupName", "UserName", "ManagedPolicyName", "InstanceProfileName"}
RESOURCE_POLICY_TYPES = {
    "AWS::Lambda::Permission", "AWS::Lambda::LayerVersionPermission", "AWS::Events::EventBusPolicy",
    "AWS::IAM::Policy", "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy",
}
# The resource types this template may use, each on SAR's list of supported resources (serverlessrepo developer
# guide, "List of Supported AWS Resources", as archived in awsdocs/aws-serverlessrepo-developer-guide, 2021-02) ...
SAR_SUPPORTED = {
    "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::IAM::Policy", "AWS::IAM::Role",
    "AWS::Lambda::Function", "AWS::Lambda::Permission", "AWS::Logs::LogGroup", "AWS::Serverless::Function",
}
# ... but one: that archived list predates AWS::SecretsManager::RotationSchedule, and the live page could not be read
# here. `sam publish` is the test (docs/migrating.md, "What was not verified").
SAR_UNLISTED = {"AWS::SecretsManager::RotationSchedule"}
METADATA_RULES = {  # SAM's "Metadata section properties" of AWS::ServerlessRepo::Application
    "Name": r"[a-zA-Z0-9\-]{1,140}",
    "Description": r"(?s).{1,256}",
    "Author": r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?",
    "SpdxLicenseId": r"Apache-2\.0",
    "SemanticVersion": r"\d+\.\d+\.\d+",
    "HomePageUrl": r"https://\S+",
    "SourceCodeUrl": r"https://\S+",
}
# Variables the template sets only when their setting is not empty (the function then uses its default).
OPTIONAL_VARIABLES = {
    "EXCLUDE_CHARACTERS", "DEFAULT_ENGINE", "USERNAME_CHARACTER_LIMIT", "SECRETS_MANAGER_ENDPOINT", "RDS_ENDPOINT",
    "MASTER_SECRET_ARNS", "BREAK_GLASS_DB_IDENTIFIERS",
}
TEST_ONLY_VARIABLES = {"RDS_ENDPOINT_MAP"}

# The deployment choices whose every combination is checked. `names`: own = SecretArns and rds-rotator's
# parameter names; aws = only AWS's SAR parameter names, no secret ARNs (as a SAR stack switched over); none = no
# secret ARNs, rds-rotator's names; both = rds-rotator's and AWS's names together, with different values (own must
# win). `boundary` is a stack hardened for one secret: with the boundary come InvokeSourceArn and that secret's
# rotation schedule.
LINTED_NAMES = {"own", "aws", "none"}
COMBINATIONS = {
    "role": ["created", "given"],
    "names": ["own", "aws", "none", "both"],
    "code": ["s3", "local"],
    "vpc": [False, True],
    "master": [False, True],
    "kms": [False, True],
    "boundary": [False, True],
}
ACCOUNT = "111122223333"
SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/app-AbCdEf"
OTHER = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/other-GhIjKl"
MASTER = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/master-MnOpQr"
SAR_MASTER = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:sar/master-StUvWx"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
SAR_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/66666666-7777-8888-9999-000000000000"
MASTER_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform/rds-rotator"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/platform-boundary"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719", "subnet-1b2c3d4e5f6071829"]
GROUPS = ["sg-0a1b2c3d4e5f60718", "sg-1b2c3d4e5f6071829"]


class Want:
    """What one combination's resolved template must show, computed from its choices (independently of the
    template's own conditions, so that a wrong condition is caught)."""

    def __init__(self, choice):
        own, aws = choice["names"] in ("own", "none", "both"), choice["names"] in ("aws", "both")
        self.choice = choice
        self.params = {}
        self.own_role = choice["role"] == "created"
        self.secret_arns = [SECRET, OTHER] if choice["names"] in ("own", "both") else []
        if self.secret_arns:
            self.params["SecretArns"] = ",".join(self.secret_arns)
        self.in_vpc = choice["vpc"]
        self.subnets, self.groups = [], []
        if choice["vpc"]:
            if own:
                self.params.update(SubnetIds=f"{SUBNETS[0]},{SUBNETS[1]}", SecurityGroupIds=GROUPS[0])
                self.subnets, self.groups = SUBNETS[:2], GROUPS[:1]
            if aws:
                self.params.update(vpcSubnetIds=SUBNETS[2], vpcSecurityGroupIds=GROUPS[1])
                if not own:
                    self.subnets, self.groups = SUBNETS[2:], GROUPS[1:]
        self.masters = []
        if choice["master"]:
            if own:
                self.params["MasterSecretArn"] = MASTER
            if aws:
                self.params["masterSecretArn"] = SAR_MASTER
            self.masters = [MASTER] if own else [SAR_MASTER]
        self.kms_keys = []
        if choice["kms"]:
            if own:
                self.params["KmsKeyArn"] = KEY
            if aws:
                self.params.update(kmsKeyArn=SAR_KEY, masterSecretKmsKeyArn=MASTER_KEY)
            self.kms_keys = ([KEY] if own else [SAR_KEY]) + ([MASTER_KEY] if aws else [])
        # The endpoint and excluded characters: AWS's endpoint as Terraform's example gives it, without a scheme.
        self.endpoint = self.exclude = None
        if own:
            self.params.update(SecretsManagerEndpoint="https://vpce-own.secretsmanager.eu-west-1.vpce.amazonaws.com")
            self.params["ExcludeCharacters"] = "/@\"'\\"
            self.endpoint, self.exclude = self.params["SecretsManagerEndpoint"], self.params["ExcludeCharacters"]
        if aws:
            self.params.update(endpoint="secretsmanager.eu-west-1.amazonaws.com", excludeCharacters=":/@\"'\\ ")
            self.params.update(functionName="sar-rotator", invokingServicePrincipal="secretsmanager.amazonaws.com")
            if not own:
                self.endpoint, self.exclude = "https://secretsmanager.eu-west-1.amazonaws.com", ":/@\"'\\ "
        self.function_name = "sar-rotator" if aws else None
        # A stack hardened for one secret: the boundary, the invoke permission for that secret, its schedule.
        self.boundary = BOUNDARY if choice["boundary"] else None
        self.source_arn = SECRET if choice["boundary"] else None
        self.schedule = choice["boundary"]
        if self.boundary:
            self.params.update(PermissionsBoundaryArn=BOUNDARY, InvokeSourceArn=SECRET)
            self.params.update(ScheduledSecretArn=SECRET, ScheduleExpression="rate(30 days)")
        if not self.own_role:
            self.params["ExistingRoleArn"] = ROLE
        self.s3 = choice["code"] == "s3"
        if self.s3:
            self.params.update(CodeS3Bucket="releases-bucket", CodeS3Key="rds-rotator/0.1.0/rds-rotator-0.1.0-x86_64.zip")
            self.params.update(CodeS3ObjectVersion="v1", Architecture="x86_64")
        self.architecture = "x86_64" if self.s3 else "arm64"
        self.break_glass = []

    def name(self):
        return " ".join(f"{k}={v}" for k, v in self.choice.items())


# ----- resolving one combination -------------------------------------------------------------------------------


class Unresolved(Exception):
    pass


def parameter_values(template, given):
    """Every parameter's value in this combination: the given ones, else the default. Lists as lists."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            raw = ""
        raw = str(raw)
        values[name] = raw.split(",") if spec.get("Type") == "CommaDelimitedList" else raw
    unknown = set(given) - set(values)
    if unknown:
        raise Unresolved(f"the template has no parameter {sorted(unknown)}")
    return values


def concrete(node, values):
    """The value of an expression made of parameters only (for conditions); raises Unresolved otherwise."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [concrete(n, values) for n in node]
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref" and arg in values:
            return values[arg]
        if fn == "Fn::Join":
            parts = concrete(arg[1], values)
            return arg[0].join(sum((p if isinstance(p, list) else [p] for p in parts), []))
        if fn == "Fn::Split":
            return concrete(arg[1], values).split(arg[0])
        if fn == "Fn::Select":
            return concrete(arg[1], values)[int(arg[0])]
    raise Unresolved(f"cannot evaluate {node!r} in a condition")


def evaluate(name, conditions, values, memo):
    if name not in memo:
        memo[name] = truth(conditions[name], conditions, values, memo)
    return memo[name]


def truth(node, conditions, values, memo):
    (fn, arg), = node.items()
    if fn == "Fn::Equals":
        return concrete(arg[0], values) == concrete(arg[1], values)
    if fn == "Fn::Not":
        return not truth(arg[0], conditions, values, memo)
    if fn == "Fn::And":
        return all(truth(a, conditions, values, memo) for a in arg)
    if fn == "Fn::Or":
        return any(truth(a, conditions, values, memo) for a in arg)
    if fn == "Condition":
        return evaluate(arg, conditions, values, memo)
    raise Unresolved(f"unknown condition function {fn}")


def drop_conditions(node, cond):
    """The expression with every Fn::If decided and every AWS::NoValue removed. Refs stay."""
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::If" in node:
            name, yes, no = node["Fn::If"]
            return drop_conditions(yes if cond(name) else no, cond)
        out = {}
        for key, value in node.items():
            value = drop_conditions(value, cond)
            if value != NO_VALUE:
                out[key] = value
        return out
    if isinstance(node, list):
        return [v for v in (drop_conditions(n, cond) for n in node) if v != NO_VALUE]
    return node


def substitute(node, values):
    """Parameter Refs replaced by their values (the least-privilege checks compare values)."""
    if isinstance(node, dict):
        if len(node) == 1 and "Ref" in node and node["Ref"] in values:
            return values[node["Ref"]]
        if len(node) == 1 and "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for name, value in values.items():
                if isinstance(value, str):
                    text = text.replace("${%s}" % name, value)
            return {"Fn::Sub": text} if "${" in text else text
        if len(node) == 1 and "Fn::Join" in node:
            sep, parts = node["Fn::Join"]
            parts = substitute(parts, values)
            flat = sum((p if isinstance(p, list) else [p] for p in parts), []) if isinstance(parts, list) else parts
            if isinstance(flat, list) and all(isinstance(p, str) for p in flat):
                return sep.join(flat)
            return {"Fn::Join": [sep, parts]}
        return {k: substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(n, values) for n in node]
    return node


def resolve(template, given):
    """(lintable, concrete, values): the combination's template with its conditions decided — parameters keep
    their Refs (defaults set to this combination's values) for cfn-lint, or are replaced by values for the checks."""
    values = parameter_values(template, given)
    conditions = template.get("Conditions", {})
    memo = {}
    cond = lambda name: evaluate(name, conditions, values, memo)
    out = copy.deepcopy(template)
    out.pop("Conditions", None)
    for section in ("Resources", "Outputs"):
        for name, item in list(out.get(section, {}).items()):
            if isinstance(item, dict) and "Condition" in item:
                if not cond(item.pop("Condition")):
                    del out[section][name]
    out = drop_conditions(out, cond)
    for name, spec in out.get("Parameters", {}).items():
        if name in given:
            spec["Default"] = given[name]
    return out, substitute(out, values), values


# ----- the checks -------------------------------------------------------------------------------------------------


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(template):
    """Every Allow statement of every IAM role and policy: (where, statement)."""
    for name, resource in template["Resources"].items():
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [resource["Properties"]["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in as_list(document.get("Statement", [])):
                yield f"{name}/{statement.get('Sid', '?')}", statement


def role_problems(t, want):
    found = []
    resources = t["Resources"]
    iam = {n: r for n, r in resources.items() if r.get("Type") in IAM_TYPES}
    function = resources["RotationFunction"]["Properties"]
    if not want.own_role:
        if iam:
            found.append(f"with ExistingRoleArn the stack must create no IAM resource, but creates {sorted(iam)}")
        if function.get("Role") != ROLE:
            found.append(f"with ExistingRoleArn the function must use it, not {function.get('Role')!r}")
        return found
    role = resources.get("RotationRole")
    if role is None:
        return ["RotationRole is missing although no ExistingRoleArn was given"]
    if function.get("Role") != {"Fn::GetAtt": ["RotationRole", "Arn"]}:
        found.append("RotationFunction must use RotationRole")
    boundary = role["Properties"].get("PermissionsBoundary")
    if boundary != want.boundary:
        found.append(f"RotationRole: the permissions boundary must be {want.boundary!r}, not {boundary!r}")
    if NAMED_IAM & set(role["Properties"]):
        found.append("RotationRole: a custom name needs CAPABILITY_NAMED_IAM, which AWS's apps' stacks do not give")

    granted = set()
    for where, s in statements(t):
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s or "NotResource" in s:
            found.append(f"{where}: NotAction / NotResource grant more than they name")
            continue
        actions, targets = as_list(s.get("Action", [])), as_list(s.get("Resource"))
        for action in actions:
            if action not in ALLOWED:
                found.append(f"{where}: {action} is not an action a rotation needs")
            elif not ALLOWED[action](want):
                found.append(f"{where}: {action} is granted although nothing in this deployment needs it")
            granted.add(action)
        sm = [a for a in actions if a.startswith("secretsmanager:")]
        if sm:
            wildcard = [r for r in targets if not isinstance(r, str) or "*" in r]
            if wildcard:
                condition = s.get("Condition", {}).get("StringEquals", {}).get(ALLOW_ROTATION_LAMBDA_ARN)
                if condition != {"Fn::GetAtt": ["RotationFunction", "Arn"]}:
                    found.append(
                        f"{where}: {', '.join(sm)} on {wildcard[0]!r} without the condition {ALLOW_ROTATION_LAMBDA_ARN}"
                        " = this function's ARN: a wildcard secret resource needs it"
                    )
                elif want.secret_arns:
                    found.append(f"{where}: with SecretArns the rotation actions must be on those secrets only")
                elif set(sm) != ROTATION_ACTIONS:
                    found.append(f"{where}: the attached secrets' grant must be the four rotation actions")
            elif set(sm) <= MASTER_READS and targets == want.masters and want.masters:
                pass
            elif targets != want.secret_arns or not want.secret_arns:
                found.append(f"{where}: {', '.join(sm)} on {targets!r}: expected the named secrets {want.secret_arns!r}"
                             + (f" or the master secrets {want.masters!r} (read only)" if want.masters else ""))
        if {"rds:ModifyDBInstance", "rds:ModifyDBCluster"} & set(actions) and targets != want.break_glass:
            found.append(f"{where}: break-glass may modify the listed instances and clusters only (BreakGlassDbArns)")
        if {"kms:Decrypt", "kms:GenerateDataKey"} & set(actions):
            if sorted(targets) != sorted(want.kms_keys):
                found.append(f"{where}: KMS on {targets!r}; expected the keys given, {want.kms_keys!r}")
            via = s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if via != {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}:
                found.append(f"{where}: KMS only through Secrets Manager (kms:ViaService)")
        if VPC_ACTIONS & set(actions) and targets != ["*"]:
            found.append(f"{where}: network interfaces cannot be named in advance; expected Resource '*'")
        if {"logs:CreateLogStream", "logs:PutLogEvents"} & set(actions) and targets != [
            {"Fn::GetAtt": ["RotationLogGroup", "Arn"]}
        ]:
            found.append(f"{where}: logs only to the function's own log group")
    needed = ROTATION_ACTIONS | {"logs:CreateLogStream", "logs:PutLogEvents"}
    needed |= {"kms:Decrypt", "kms:GenerateDataKey"} if want.kms_keys else set()
    needed |= VPC_ACTIONS if want.in_vpc else set()
    if needed - granted:
        found.append(f"the role lacks what this deployment needs: {sorted(needed - granted)}")
    masters = [r for w, s in statements(t) if set(as_list(s.get("Action"))) <= MASTER_READS
               for r in as_list(s.get("Resource")) if r in (MASTER, SAR_MASTER)]
    if sorted(set(masters)) != sorted(want.masters):
        found.append(f"the role may read the master secrets {sorted(set(masters))}; expected {want.masters}")
    return found


def function_problems(t, want, variables, defaults):
    found = []
    resource = t["Resources"]["RotationFunction"]
    props = resource["Properties"]
    for key, value in {"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": [want.architecture]}.items():
        if props.get(key) != value:
            found.append(f"RotationFunction: {key} must be {value!r}, not {props.get(key)!r}")
    if resource.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
        found.append("RotationFunction: Metadata.BuildMethod must be rust-cargolambda")
    if props.get("LoggingConfig", {}).get("LogFormat") != "JSON":
        found.append("RotationFunction: LoggingConfig.LogFormat must be JSON")
    code = props.get("Code")
    expected_code = (
        {"S3Bucket": "releases-bucket", "S3Key": "rds-rotator/0.1.0/rds-rotator-0.1.0-x86_64.zip", "S3ObjectVersion": "v1"}
        if want.s3 else "."
    )
    if code != expected_code:
        found.append(f"RotationFunction: Code must be {expected_code!r} (the released zip, or the local build), not {code!r}")
    if props.get("FunctionName") != want.function_name:
        found.append(f"RotationFunction: FunctionName must be {want.function_name!r} (functionName)")
    vpc = props.get("VpcConfig")
    expected_vpc = {"SubnetIds": want.subnets, "SecurityGroupIds": want.groups} if want.in_vpc else None
    if vpc != expected_vpc:
        found.append(f"RotationFunction: VpcConfig must be {expected_vpc!r}, not {vpc!r}")

    env = props.get("Environment", {}).get("Variables", {})
    for variable in env:
        if variable not in variables:
            found.append(f"RotationFunction: {variable} is set but src/config.rs does not read it")
    expected = dict(defaults)
    expected.update(
        SECRETS_MANAGER_ENDPOINT=want.endpoint, EXCLUDE_CHARACTERS=want.exclude,
        MASTER_SECRET_ARNS=",".join(want.masters) or None,
    )
    for variable in sorted(variables - TEST_ONLY_VARIABLES):
        value = expected.get(variable)
        if variable in OPTIONAL_VARIABLES and value is None:
            if variable in env:
                found.append(f"RotationFunction: {variable} must be left unset here (the function's default)")
        elif variable not in env:
            found.append(f"RotationFunction: {variable} is read by src/config.rs but not set")
        elif variable in expected and str(env[variable]) != str(value):
            found.append(f"RotationFunction: {variable} is {env[variable]!r}; expected {value!r}")
    return found


def permission_problems(t, want):
    found = []
    permission = t["Resources"].get("SecretsManagerInvoke", {}).get("Properties", {})
    if permission.get("Principal") != "secretsmanager.amazonaws.com":
        found.append(f"SecretsManagerInvoke: only secretsmanager.amazonaws.com, not {permission.get('Principal')!r}")
    if permission.get("SourceAccount") != {"Ref": "AWS::AccountId"}:
        found.append("SecretsManagerInvoke: conditioned on aws:SourceAccount, always (SourceAccount missing)")
    if permission.get("SourceArn") != want.source_arn:
        found.append(f"SecretsManagerInvoke: SourceArn must be {want.source_arn!r} (InvokeSourceArn)")
    if permission.get("FunctionName") != {"Fn::GetAtt": ["RotationFunction", "Arn"]}:
        found.append("SecretsManagerInvoke: must be for RotationFunction")
    return found


def schedule_problems(t, want):
    schedule = t["Resources"].get("RotationSchedule")
    if not want.schedule:
        return ["RotationSchedule exists without ScheduledSecretArn and ScheduleExpression"] if schedule else []
    if schedule is None:
        return ["RotationSchedule is missing although ScheduledSecretArn and ScheduleExpression were given"]
    found = []
    props = schedule.get("Properties", {})
    if props.get("RotationLambdaARN") != {"Fn::GetAtt": ["RotationFunction", "Arn"]} or props.get("SecretId") != SECRET:
        found.append("RotationSchedule: ScheduledSecretArn must be attached to RotationFunction")
    if "SecretsManagerInvoke" not in as_list(schedule.get("DependsOn", [])):
        found.append("RotationSchedule: the first rotation would start before Secrets Manager may invoke the function")
    if want.own_role and not want.secret_arns and '"RotateAttachedSecretsPolicy"' not in json.dumps(schedule):
        found.append("RotationSchedule: the first rotation would start before RotateAttachedSecretsPolicy exists")
    return found


def output_problems(t, want):
    outputs = t.get("Outputs", {})
    found = []
    arn = {"Fn::GetAtt": ["RotationFunction", "Arn"]}
    for name in ("RotationFunctionArn", SAR_OUTPUT):
        if outputs.get(name, {}).get("Value") != arn:
            found.append(f"Outputs: {name} must be the function's ARN")
    role_arn = {"Fn::GetAtt": ["RotationRole", "Arn"]} if want.own_role else ROLE
    role_name = {"Ref": "RotationRole"} if want.own_role else "-"
    if outputs.get("RotationRoleArn", {}).get("Value") != role_arn:
        found.append(f"Outputs: RotationRoleArn must be {role_arn!r}")
    if outputs.get("RotationRoleName", {}).get("Value") != role_name:
        found.append(f"Outputs: RotationRoleName must be {role_name!r}")
    return found


def dangling(t):
    """Refs and GetAtts to resources the combination does not create."""
    names = set(t["Resources"]) | set(t.get("Parameters", {}))
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str) and not value.startswith("AWS::") and value not in names:
                    found.append(f"{where}: refers to {value}, which this deployment does not create")
                elif key == "Fn::GetAtt" and value[0] not in names:
                    found.append(f"{where}: refers to {value[0]}, which this deployment does not create")
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for n in node:
                walk(n, where)

    for section in ("Resources", "Outputs"):
        for name, item in t.get(section, {}).items():
            walk(item, f"{section}/{name}")
    return found


def combination_problems(template, want, variables, defaults):
    try:
        lintable, t, _ = resolve(template, want.params)
    except Unresolved as err:
        return [str(err)], None
    found = dangling(t)
    if found:
        return found, lintable
    found += role_problems(t, want)
    found += function_problems(t, want, variables, defaults)
    found += permission_problems(t, want)
    found += schedule_problems(t, want)
    found += output_problems(t, want)
    if not any(r.get("Type") == "AWS::CloudWatch::Alarm" for r in t["Resources"].values()):
        found.append("an alarm on the function's errors is missing")
    return found, lintable


def static_problems(template):
    """What holds whatever the parameters: publishable by `sam publish`, and AWS's apps' interface."""
    found = []
    meta = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application")
    if not isinstance(meta, dict):
        found.append("Metadata: AWS::ServerlessRepo::Application is missing (sam publish needs it)")
        meta = {}
    for key, pattern in METADATA_RULES.items():
        value = meta.get(key)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            found.append(f"Metadata/AWS::ServerlessRepo::Application: {key} {value!r} is not what SAR accepts")
    labels = meta.get("Labels", [])
    if len(labels) > 10 or not all(isinstance(l, str) and re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", l) for l in labels):
        found.append("Metadata/AWS::ServerlessRepo::Application: at most 10 labels of [a-zA-Z0-9+-_:/@]")
    if "Fn::" in json.dumps(meta) or '"Ref"' in json.dumps(meta):
        found.append("Metadata/AWS::ServerlessRepo::Application: no intrinsic functions (SAM refuses them there)")
    for key in ("ReadmeUrl",):
        if not os.path.exists(os.path.join(ROOT, meta.get(key, "-"))):
            found.append(f"Metadata/AWS::ServerlessRepo::Application: {key} {meta.get(key)!r} is not a file here")
    if json.dumps(template).find("Fn::ForEach") >= 0 or template.get("Transform") != "AWS::Serverless-2016-10-31":
        found.append("Transform must be AWS::Serverless-2016-10-31 alone: no Fn::ForEach (sam build cannot read it)")

    types = {r.get("Type") for r in template["Resources"].values()}
    for kind in sorted(types - SAR_SUPPORTED - SAR_UNLISTED):
        found.append(f"Resources: {kind} is not on SAR's list of supported resources")
    capabilities = set()
    for resource in template["Resources"].values():
        if resource.get("Type") in IAM_TYPES:
            named = NAMED_IAM & set(resource.get("Properties", {}))
            capabilities.add("CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM")
        if resource.get("Type") in RESOURCE_POLICY_TYPES:
            capabilities.add("CAPABILITY_RESOURCE_POLICY")
        if resource.get("Type") == "AWS::Serverless::Application":
            capabilities.add("CAPABILITY_AUTO_EXPAND")
    if capabilities != SAR_CAPABILITIES:
        found.append(f"the template needs {sorted(capabilities)}; AWS's apps' stacks acknowledge {sorted(SAR_CAPABILITIES)}")

    parameters = template.get("Parameters", {})
    for name in sorted(SAR_PARAMETERS - set(parameters)):
        found.append(f"Parameters: {name} (AWS's SAR apps' parameter) is missing")
    for name, spec in parameters.items():
        if name != "SecretArns" and "Default" not in spec:
            found.append(f"Parameters: {name} needs a Default: AWS's apps' stacks do not pass it")
    if parameters.get("SecretArns", {}).get("Default") != "":
        found.append("Parameters: SecretArns must default to empty: AWS's apps' stacks name no secret")
    if parameters.get("invokingServicePrincipal", {}).get("AllowedValues") != ["secretsmanager.amazonaws.com"]:
        found.append("Parameters: invokingServicePrincipal may only be secretsmanager.amazonaws.com")
    if SAR_OUTPUT not in template.get("Outputs", {}):
        found.append(f"Outputs: {SAR_OUTPUT} (AWS's apps' output) is missing")
    return found


def config_facts():
    """The variables src/config.rs reads, and the defaults it documents in code, as the template must set them."""
    source = open(os.path.join(ROOT, "src", "config.rs")).read()
    code = source[: source.find("#[cfg(test)]")]
    variables = set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', code)) - {"PASSWORD_LENGTH / EXCLUDE_*"}
    consts = {n: v for n, v in re.findall(r"const (\w+): (?:usize|Duration) = (?:Duration::from_secs\()?(\d+)", code)}
    defaults = {}
    for var, default in re.findall(r'flag\("(\w+)", (true|false)\)', code):
        defaults[var] = default
    for var, const in re.findall(r'(?:seconds|length)\("(\w+)", (\w+)\)', code):
        defaults[var] = consts[const]
    modes = {"VerifyFull": "verify-full", "Require": "require", "Prefer": "prefer", "Disable": "disable"}
    for var, mode in re.findall(r'parsed\("(\w+)", TlsMode::(\w+)', code):
        defaults[var] = modes[mode]
    metrics = open(os.path.join(ROOT, "src", "metrics.rs")).read()
    defaults["METRICS_NAMESPACE"] = re.search(r'DEFAULT_NAMESPACE: &str = "([^"]*)"', metrics).group(1)
    defaults["DB_EXTRA_CA_BUNDLE"] = ""
    defaults["BREAK_GLASS_MASTER_RESET"] = "false"
    return variables, defaults


def combinations():
    keys = list(COMBINATIONS)
    for values in itertools.product(*(COMBINATIONS[k] for k in keys)):
        yield Want(dict(zip(keys, values)))


def problems(template, lint=False, stop_at=None):
    """Every problem: the static ones, then each combination's (named by its choices). With lint, each distinct
    resolved template also goes through cfn-lint. stop_at: stop at the first problem containing it (self-test)."""
    found = static_problems(template)
    if stop_at and any(stop_at in p for p in found):
        return found
    variables, defaults = config_facts()
    seen, lints, count = set(), [], 0
    for want in combinations():
        count += 1
        issues, lintable = combination_problems(template, want, variables, defaults)
        found += [f"[{want.name()}] {p}" for p in issues]
        if stop_at and any(stop_at in p for p in issues):
            return found
        # cfn-lint takes 0.2 s a template: `both` (rds-rotator's and AWS's names together) resolves to `own`'s
        # template plus AWS-only settings the `aws` templates lint, so it is checked above but not linted again.
        if lint and lintable is not None and want.choice["names"] in LINTED_NAMES:
            key = json.dumps(lintable, sort_keys=True)
            if key not in seen:
                seen.add(key)
                lints.append((want, lintable))
    if lint:
        from cfnlint.config import ConfigMixIn
        from cfnlint.decode.decode import decode_str
        from cfnlint.runner import Runner

        # As `sam validate --lint` runs it (one Region, the default rules), one runner for all (loading the rules
        # costs more than a template). W2001: a parameter that the decided conditions left unused.
        runner = Runner(ConfigMixIn(regions=["us-east-1"], ignore_checks=["W2001"]))
        for want, lintable in lints:
            decoded, errors = decode_str(json.dumps(lintable))
            for match in errors or runner.validate_template(decoded):
                found.append(f"[{want.name()}] cfn-lint {match.rule.id}: {match.message} ({'/'.join(map(str, match.path))})")
    problems.counts = (count, len(lints))
    return found


def load(path):
    template, matches = decode(path)
    if matches:
        sys.exit(f"{path}: {matches}")
    return template


def self_test():
    """Each check fires on the mistake it guards against, in some combination of the choices."""
    good = load(os.path.join(ROOT, "template.yaml"))
    assert problems(good) == [], problems(good)[:5]

    def mutated(change, expected):
        template = copy.deepcopy(good)
        change(template)
        return problems(template, stop_at=expected)

    res = lambda t: t["Resources"]
    policy = lambda t: res(t)["RotationRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = lambda t, sid: next(s["Fn::If"][1] for s in policy(t) if "Fn::If" in s and s["Fn::If"][1].get("Sid") == sid)
    attached = lambda t: res(t)["RotateAttachedSecretsPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    env = lambda t: res(t)["RotationFunction"]["Properties"]["Environment"]["Variables"]
    fn = lambda t: res(t)["RotationFunction"]["Properties"]
    invoke = lambda t: res(t)["SecretsManagerInvoke"]["Properties"]
    cases = {
        # The role's grants.
        "is not an action a rotation needs": lambda t: by_sid(t, "RotateTheNamedSecrets")["Action"].append("secretsmanager:GetRandomPassword"),
        "without the condition secretsmanager:resource/AllowRotationLambdaArn": lambda t: attached(t).pop("Condition"),
        "a wildcard secret resource needs it": lambda t: by_sid(t, "RotateTheNamedSecrets").update(Resource="*"),
        "expected the named secrets": lambda t: by_sid(t, "RotateTheNamedSecrets").update(Resource="arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/app-AbCdEf"),
        "granted although nothing in this deployment needs it": lambda t: policy(t).append(by_sid(t, "UseTheSecretsKey")),
        "break-glass may modify the listed instances": lambda t: policy(t).append({"Effect": "Allow", "Action": "rds:ModifyDBInstance", "Resource": "*"}),
        "(read only)": lambda t: by_sid(t, "ReadTheMasterSecret").update(Action=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]),
        "KMS on": lambda t: by_sid(t, "UseTheSecretsKey")["Resource"].pop(),
        "the role may read the master secrets": lambda t: by_sid(t, "ReadTheMasterSecret").update(Resource={"Ref": "MasterSecretArn"}),
        "the role lacks what this deployment needs": lambda t: res(t).pop("RotateAttachedSecretsPolicy"),
        "NotAction / NotResource": lambda t: policy(t).append({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        # Boundary and role choice.
        "the permissions boundary must be": lambda t: res(t)["RotationRole"]["Properties"].pop("PermissionsBoundary"),
        "must create no IAM resource": lambda t: res(t)["RotationRole"].pop("Condition"),
        "with ExistingRoleArn the function must use it": lambda t: fn(t).pop("Role"),
        "which this deployment does not create": lambda t: res(t)["RotationRole"].update(Condition="HasSecretArns"),
        "CAPABILITY_NAMED_IAM": lambda t: res(t)["RotationRole"]["Properties"].update(RoleName="rds-rotator"),
        # The invoke permission.
        "SourceAccount missing": lambda t: invoke(t).pop("SourceAccount"),
        "SourceArn must be": lambda t: invoke(t).pop("SourceArn"),
        "only secretsmanager.amazonaws.com": lambda t: invoke(t).update(Principal="lambda.amazonaws.com"),
        "invokingServicePrincipal may only be": lambda t: t["Parameters"]["invokingServicePrincipal"].pop("AllowedValues"),
        # The function and its environment.
        "does not read it": lambda t: env(t).update(NOT_A_SETTING="x"),
        "is read by src/config.rs but not set": lambda t: env(t).pop("STATEMENT_TIMEOUT_SECONDS"),
        "SECRETS_MANAGER_ENDPOINT is": lambda t: env(t).update(SECRETS_MANAGER_ENDPOINT={"Ref": "endpoint"}),
        "MASTER_SECRET_ARNS is": lambda t: env(t).update(MASTER_SECRET_ARNS={"Ref": "masterSecretArn"}),
        "PASSWORD_LENGTH is": lambda t: t["Parameters"]["PasswordLength"].update(Default=20),
        "LogFormat": lambda t: fn(t)["LoggingConfig"].update(LogFormat="Text"),
        "Code must be": lambda t: fn(t).update(Code="."),
        "Architectures must be": lambda t: fn(t).update(Architectures=["arm64"]),
        "FunctionName must be": lambda t: fn(t).pop("FunctionName"),
        "VpcConfig must be": lambda t: fn(t)["VpcConfig"]["Fn::If"][1].update(SubnetIds={"Ref": "vpcSubnetIds"}),
        # Outputs, and what SAR needs.
        "RotationRoleName must be": lambda t: t["Outputs"]["RotationRoleName"].update(Value="-"),
        "before RotateAttachedSecretsPolicy exists": lambda t: res(t)["RotationSchedule"].pop("Metadata"),
        "before Secrets Manager may invoke": lambda t: res(t)["RotationSchedule"].pop("DependsOn"),
        "(AWS's apps' output) is missing": lambda t: t["Outputs"].pop(SAR_OUTPUT),
        "(AWS's SAR apps' parameter) is missing": lambda t: t["Parameters"].pop("vpcSubnetIds"),
        "needs a Default": lambda t: t["Parameters"]["functionName"].pop("Default"),
        "Author": lambda t: t["Metadata"]["AWS::ServerlessRepo::Application"].update(Author="RDS Rotator"),
        "no intrinsic functions": lambda t: t["Metadata"]["AWS::ServerlessRepo::Application"].update(HomePageUrl={"Fn::Sub": "https://${AWS::Region}"}),
        "not on SAR's list": lambda t: res(t).update(Queue={"Type": "AWS::SQS::Queue", "Properties": {}}),
    }
    for expected, change in cases.items():
        found = mutated(change, expected)
        assert any(expected in problem for problem in found), f"{expected!r} not caught: {found[:5]}"
    print(f"check-template self-test: {len(cases)} mistakes caught")


def main(argv):
    if argv[1:2] == ["--cdk"]:
        return cdk_main(argv[2:])
    args = argv[1:]
    if args == ["--self-test"]:
        return self_test()
    lint = "--no-lint" not in args
    args = [a for a in args if a != "--no-lint"]
    path = args[0] if args else os.path.join(ROOT, "template.yaml")
    found = problems(load(path), lint=lint)
    for problem in found[:200]:
        print(f"template.yaml: {problem}", file=sys.stderr)
    if found:
        sys.exit(f"check-template: {len(found)} problem(s)")
    count, linted = problems.counts
    print(
        f"check-template: {count} combinations resolved and checked ({linted} distinct templates through cfn-lint): "
        "the role grants only what rotation needs; the function is configured as documented"
    )


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
