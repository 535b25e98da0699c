// RdsRotator: rds-rotator's function with what template.yaml deploys around it — its log group, a least-privilege
// role policy, the invoke permission, the errors alarm and the dashboard — and `rotate(secret)`, the one-line
// replacement for `secret.addRotationSchedule(id, { hostedRotation: HostedRotation.… })`.
import * as fs from 'fs';
import * as path from 'path';
import {
  Annotations, Aws, Duration, Lazy, Names, RemovalPolicy, Stack, Token, Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, IConstruct } from 'constructs';
import { dashboardWidgets } from './dashboard';
import { LogLevel, RotatorSettings, environment, metricsNamespace } from './settings';

export interface RdsRotatorProps extends RotatorSettings {
  /**
   * The function's code: a released zip (`lambda.Code.fromBucket(bucket, key)`) or a local build
   * (`lambda.Code.fromAsset('target/lambda/rds-rotator/bootstrap.zip')`, from `make build`). Its binary must match
   * `architecture`.
   * @default - the zip `make build` writes in this repository, target/lambda/rds-rotator/bootstrap.zip
   */
  readonly code?: lambda.Code;
  /** @default lambda.Architecture.ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default - a name CloudFormation generates */
  readonly functionName?: string;
  /** The VPC to run in, to reach databases in it; it needs a route to Secrets Manager. @default - no VPC */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets (Lambda's default selection) */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The function's security groups in the VPC. @default - a new security group */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Whether the created security group allows all outbound traffic. @default true */
  readonly allowAllOutbound?: boolean;
  /**
   * Master secrets of alternating users, readable by the function and listed in MASTER_SECRET_ARNS. `rotate(secret,
   * { masterSecret })` adds more.
   * @default - none
   */
  readonly masterSecrets?: secretsmanager.ISecret[];
  /**
   * Secrets the function may rotate whose schedule is set outside this app (`rds-rotator attach`); `rotate(secret)`
   * grants its secret by itself.
   * @default - none
   */
  readonly secrets?: secretsmanager.ISecret[];
  /**
   * Customer-managed keys of secrets whose `encryptionKey` CDK does not know (imported secrets); the key of every
   * secret passed to `rotate` or `secrets` is granted by itself.
   * @default - none
   */
  readonly kmsKeys?: kms.IKey[];
  /** An existing execution role instead of the created one; the construct adds its grants to it. @default - a role is created */
  readonly role?: iam.IRole;
  /** A permissions boundary for the created role (not for `role`). @default - none */
  readonly permissionsBoundary?: iam.IManagedPolicy;
  /**
   * Let Secrets Manager invoke the function only for the secrets given to `rotate` and `secrets` (one permission per
   * secret, with `aws:SourceArn` beside `aws:SourceAccount`) instead of for any secret of this account. A secret
   * attached later with `rds-rotator attach` then needs to be listed in `secrets` first.
   * @default false
   */
  readonly restrictInvokeToSecrets?: boolean;
  /** Layers, e.g. one holding `dbExtraCaBundle`. @default - none */
  readonly layers?: lambda.ILayerVersion[];
  /** Lambda's application log level. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default logs.RetentionDays.THREE_MONTHS (90 days, as template.yaml) */
  readonly logRetention?: logs.RetentionDays;
  /** @default - `/rds-rotator/<stack name>/<the construct's path in its stack>` */
  readonly logGroupName?: string;
  /** @default RemovalPolicy.RETAIN, as template.yaml */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** The SNS topic the errors alarm notifies. @default - an alarm without notification */
  readonly alarmTopic?: sns.ITopic;
  /** Create the CloudWatch dashboard. @default true */
  readonly dashboard?: boolean;
  /** @default - a name CloudFormation generates */
  readonly dashboardName?: string;
}

export interface RotateOptions {
  /**
   * When to rotate: a `Duration` (a rate, 4 hours to 1000 days) or an `events.Schedule` (`Schedule.rate(…)`,
   * `Schedule.cron(…)`, `Schedule.expression('cron(0 4 ? * SUN *)')`).
   * @default Duration.days(30), as `addRotationSchedule`
   */
  readonly schedule?: Duration | events.Schedule;
  /** `addRotationSchedule`'s name for a rate schedule, so that a hosted rotation's options carry over. */
  readonly automaticallyAfter?: Duration;
  /** The rotation window (RotationRules.Duration), in whole hours from 1 to 24. @default - Secrets Manager's */
  readonly window?: Duration;
  /** Alternating users: the master secret the secret's `masterarn` names. @default - single user */
  readonly masterSecret?: secretsmanager.ISecret;
  /** Rotate when the schedule is created or changed. @default true (CloudFormation's default) */
  readonly rotateImmediatelyOnUpdate?: boolean;
  /**
   * The database (an RDS instance or cluster, a proxy, a security group): its security group is opened on its
   * default port to the function's. Needs `vpc`.
   * @default - no rule
   */
  readonly database?: ec2.IConnectable;
  /**
   * The schedule's construct id. Keep the id (and scope) of the `addRotationSchedule` call it replaces: the same
   * logical id makes the switch an in-place update of the AWS::SecretsManager::RotationSchedule.
   * @default 'RotationSchedule'
   */
  readonly id?: string;
  /**
   * The schedule's scope.
   * @default - the secret, as `secret.addRotationSchedule` (the rotator when the secret is in another stack)
   */
  readonly scope?: Construct;
}

/** Rotation actions on the rotated secrets: passwords are generated locally, so no GetRandomPassword. */
const ROTATE_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];
const ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

export class RdsRotator extends Construct implements ec2.IConnectable, iam.IGrantable {
  public readonly function: lambda.Function;
  public readonly role: iam.IRole;
  /** The policy holding every grant, attached to `role`. */
  public readonly policy: iam.Policy;
  public readonly logGroup: logs.LogGroup;
  public readonly errorsAlarm: cloudwatch.Alarm;
  public readonly dashboard?: cloudwatch.CfnDashboard;
  /** Secrets Manager's permission to invoke the function from this account (absent with `restrictInvokeToSecrets`). */
  public readonly invokePermission?: lambda.CfnPermission;
  public readonly grantPrincipal: iam.IPrincipal;

  private readonly statements = new Map<string, iam.PolicyStatement>();
  private readonly granted = new Set<string>();
  private readonly masterEntries: string[] = [];
  /** With `restrictInvokeToSecrets`, each secret's own permission, by its ARN as the policy names it. */
  private readonly secretPermissions = new Map<string, lambda.CfnPermission>();
  private readonly restrictInvoke: boolean;
  private readonly inVpc: boolean;
  private scheduleTarget?: lambda.IFunction;

  constructor(scope: Construct, id: string, props: RdsRotatorProps = {}) {
    super(scope, id);
    if (props.role && props.permissionsBoundary) {
      throw new Error('permissionsBoundary applies to the created role; with your own role, give the boundary to it');
    }
    if (props.securityGroups && !props.vpc) throw new Error('securityGroups need vpc');
    this.inVpc = props.vpc !== undefined;
    this.restrictInvoke = props.restrictInvokeToSecrets ?? false;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: props.logGroupName ?? defaultLogGroupName(this),
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.role = props.role ?? new iam.Role(this, 'Role', {
      description: "rds-rotator's execution role; the four rotation actions on the named secrets only",
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      permissionsBoundary: props.permissionsBoundary,
    });
    this.grantPrincipal = this.role;
    // One policy for every grant, so that the function can wait for it: in a VPC, Lambda refuses to create a function
    // whose role cannot yet create network interfaces. Attached through the role, so that an immutable imported role
    // stays as it is (the policy is then not rendered, and its owner grants what the rotation needs).
    this.policy = new iam.Policy(this, 'Policy');
    this.role.attachInlinePolicy(this.policy);

    const env = environment(props);
    const metrics = metricsNamespace(props.metricsNamespace);
    this.function = new lambda.Function(this, 'Function', {
      description: 'Rotates RDS and Aurora database passwords for Secrets Manager (rds-rotator)',
      code: props.code ?? localBuild(),
      handler: 'bootstrap',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      functionName: props.functionName,
      memorySize: 128,
      // A rotation step logs in at most four times, each attempt bounded by twice connectTimeout (at most 10 s), runs
      // statements each bounded by statementTimeout, then may wait up to propagationTimeout (at most 60 s). Whatever
      // remains, every step stops 2 s before this deadline with a transient error (DeadlineReached) that Secrets
      // Manager's retry continues, rather than a Lambda timeout. (template.yaml's reasoning, the same bounds.)
      timeout: Duration.seconds(150),
      role: this.role,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: (props.logLevel ?? 'INFO') as lambda.ApplicationLogLevel,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      logGroup: this.logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      securityGroups: props.securityGroups,
      allowAllOutbound: props.vpc && !props.securityGroups ? props.allowAllOutbound : undefined,
      layers: props.layers,
      environment: env,
    });
    // Every master secret any `rotate` call names, resolved at synthesis: the function accepts no other as masterarn.
    this.function.addEnvironment('MASTER_SECRET_ARNS', Lazy.string({
      produce: () => (this.masterEntries.length > 0 ? this.masterEntries.join(',') : undefined),
    }));
    this.function.node.addDependency(this.policy);

    // Endpoints of secrets without a host, and the writer behind reader and replica endpoints. The Describe actions
    // cannot be limited to named resources usefully: the secret names them.
    this.allow('ResolveEndpoints', ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'], '*');
    const breakGlass = env.BREAK_GLASS_DB_IDENTIFIERS;
    if (breakGlass) {
      // The instances and clusters the operator listed, and no other: the function refuses any other before an RDS
      // call, and the role could not modify it anyway.
      for (const arn of props.breakGlassDbArns ?? []) {
        this.allow('BreakGlassMasterReset', ['rds:ModifyDBInstance', 'rds:ModifyDBCluster'], arn);
      }
    }
    this.allow('WriteItsLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], this.logGroup.logGroupArn);
    if (this.inVpc) {
      // Network interfaces cannot be scoped to a resource in advance; only granted when the function is in a VPC.
      this.allow('RunInTheVpc', ENI_ACTIONS, '*');
    }
    Validations.of(this.policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Only rds:DescribeDBInstances/DescribeDBClusters (the secret names the instance, so no resource can be ' +
        'named in advance) and, in a VPC, the ec2 network-interface actions Lambda needs (not scopable to a resource) ' +
        'are on *; every Secrets Manager, KMS, logs and rds:Modify action names its resources.',
    });

    if (!this.restrictInvoke) {
      // Secrets Manager may invoke the function, for rotations in this account only (aws-cdk #28406).
      this.invokePermission = new lambda.CfnPermission(this, 'SecretsManagerInvoke', {
        action: 'lambda:InvokeFunction',
        functionName: this.function.functionArn,
        principal: 'secretsmanager.amazonaws.com',
        sourceAccount: Aws.ACCOUNT_ID,
      });
    }

    for (const key of props.kmsKeys ?? []) this.grantKey(key, 'UseTheSecretsKey');
    for (const master of props.masterSecrets ?? []) this.addMasterSecret(master);
    for (const secret of props.secrets ?? []) this.grantRotation(secret);

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      // Any failed step: Secrets Manager retries, but a rotation that keeps failing needs a person.
      alarmDescription: `rds-rotator (${this.function.functionName}) returned an error. The log line with ` +
        `error_type in ${this.logGroup.logGroupName} says what failed; CredentialsRejected means the password ` +
        'drifted and a person must act.',
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) this.errorsAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));

    if (props.dashboard ?? true) {
      const widgets = dashboardWidgets({
        alarmArn: this.errorsAlarm.alarmArn,
        functionName: this.function.functionName,
        metricsNamespace: metrics,
      });
      this.dashboard = new cloudwatch.CfnDashboard(this, 'Dashboard', {
        dashboardName: props.dashboardName,
        dashboardBody: Stack.of(this).toJsonString({ widgets }),
      });
    }
  }

  /** The function's security groups (only in a VPC). */
  public get connections(): ec2.Connections {
    if (!this.inVpc) throw new Error('RdsRotator is not in a VPC: give it vpc to use its connections');
    return this.function.connections;
  }

  /** The function's ARN, for `rds-rotator attach --function`. */
  public get functionArn(): string {
    return this.function.functionArn;
  }

  /**
   * Rotate `secret` with this function: the replacement for `secret.addRotationSchedule(id, { hostedRotation })`.
   * Adds the schedule, the grants on this secret (and on its key, its master secret and the master's key), the
   * master to MASTER_SECRET_ARNS, and the database's ingress rule from the function.
   */
  public rotate(secret: secretsmanager.ISecret, options: RotateOptions = {}): secretsmanager.RotationSchedule {
    if (options.schedule !== undefined && options.automaticallyAfter !== undefined) {
      throw new Error('rotate: give schedule or automaticallyAfter, not both');
    }
    const rules = rotationRules(options);
    this.grantRotation(secret);
    if (options.masterSecret) this.addMasterSecret(options.masterSecret);
    if (options.database) {
      if (!this.inVpc) throw new Error('rotate: database needs the rotator in a VPC (vpc)');
      options.database.connections.allowDefaultPortFrom(this, 'rds-rotator');
    }

    const id = options.id ?? 'RotationSchedule';
    const sameStack = Stack.of(secret) === Stack.of(this);
    // Under the secret, as addRotationSchedule puts it, so that the logical id stays. A secret of another stack would
    // make a cycle (this stack's grants name the secret; the schedule there would name this function), so its
    // schedule is created here instead.
    const scope = options.scope ?? (sameStack ? secret : this);
    const scheduleId = options.scope || sameStack ? id : `${id}${Names.nodeUniqueId(secret.node)}`;
    if (!options.scope && !sameStack) {
      Annotations.of(this).addWarningV2('rds-rotator:scheduleInRotatorStack', `The rotation schedule of ${secret.node.path} ` +
        "is created in the rotator's stack, not the secret's: if that secret already has a schedule in its own stack, " +
        'the replaced one is deleted after the new one is created, which switches rotation off ' +
        '(cloudformation-coverage-roadmap #1813). Rotate it again, or attach it with rds-rotator attach.');
    }
    if (scope.node.tryFindChild(scheduleId)) {
      throw new Error(`rotate: ${scope.node.path} already has a child ${scheduleId} (a secret has one rotation schedule)`);
    }
    const schedule = new secretsmanager.RotationSchedule(scope, scheduleId, {
      secret,
      rotationLambda: this.target(),
      automaticallyAfter: rules.automaticallyAfter,
      rotateImmediatelyOnUpdate: options.rotateImmediatelyOnUpdate,
    });
    if (rules.override) {
      (schedule.node.defaultChild as secretsmanager.CfnRotationSchedule).rotationRules = rules.override;
    }
    // The first rotation starts when the schedule is created: its grants and the permission to invoke the function
    // must exist by then (the function itself it names).
    schedule.node.addDependency(this.policy, this.invokePermission ?? this.secretPermissions.get(secretArn(secret))!);
    return schedule;
  }

  /**
   * Let the function rotate `secret`: the four rotation actions on it, and its key if CDK knows one. `rotate` calls
   * it; call it for a secret whose rotation is switched on outside this app (`rds-rotator attach`).
   */
  public grantRotation(secret: secretsmanager.ISecret): void {
    const arn = secretArn(secret);
    this.allow('RotateTheNamedSecrets', ROTATE_ACTIONS, arn);
    if (secret.encryptionKey) this.grantKey(secret.encryptionKey, 'UseTheSecretsKey');
    if (this.restrictInvoke && !this.secretPermissions.has(arn)) {
      const permission = new lambda.CfnPermission(this, `SecretsManagerInvoke${Names.nodeUniqueId(secret.node)}`, {
        action: 'lambda:InvokeFunction',
        functionName: this.function.functionArn,
        principal: 'secretsmanager.amazonaws.com',
        sourceAccount: Aws.ACCOUNT_ID,
        sourceArn: arn,
      });
      this.secretPermissions.set(arn, permission);
    }
  }

  /** Let alternating users use `master`: read it (and describe it, for an RDS-managed master's tags), list it. */
  public addMasterSecret(master: secretsmanager.ISecret): void {
    this.allow('ReadTheMasterSecret', ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      secretArn(master));
    if (master.encryptionKey) this.grantKey(master.encryptionKey, 'ReadTheMasterSecretsKey');
    // The function matches an entry against the ARN the service answers with, or against the secret's name.
    const entry = master.secretFullArn ?? master.secretName;
    if (!this.masterEntries.includes(entry)) this.masterEntries.push(entry);
  }

  /** The function as `RotationSchedule` sees it: without its own permissions node, so that the schedule adds none of
   * its own grants (GetRandomPassword on *, an invoke permission without SourceAccount); this construct adds them. */
  private target(): lambda.IFunction {
    this.scheduleTarget ??= lambda.Function.fromFunctionAttributes(this, 'ScheduleTarget', {
      functionArn: this.function.functionArn,
      sameEnvironment: true,
      skipPermissions: true,
    });
    return this.scheduleTarget;
  }

  private grantKey(key: kms.IKey, sid: 'UseTheSecretsKey' | 'ReadTheMasterSecretsKey'): void {
    const actions = sid === 'UseTheSecretsKey' ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'];
    this.allow(sid, actions, key.keyArn, {
      StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
    });
  }

  /** Adds `resource` to the statement `sid`, created on first use. */
  private allow(sid: string, actions: string[], resource: string, conditions?: Record<string, unknown>): void {
    if (this.granted.has(`${sid} ${resource}`)) return;
    this.granted.add(`${sid} ${resource}`);
    let statement = this.statements.get(sid);
    if (!statement) {
      statement = new iam.PolicyStatement({ sid, actions, conditions });
      this.statements.set(sid, statement);
      this.policy.addStatements(statement);
    }
    statement.addResources(resource);
  }
}

/** The secret's ARN for a policy: the full ARN, or the partial one with the six characters Secrets Manager appends. */
function secretArn(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

interface Rules {
  readonly automaticallyAfter?: Duration;
  readonly override?: secretsmanager.CfnRotationSchedule.RotationRulesProperty;
}

/** A Duration goes to RotationSchedule (which checks 4 hours to 1000 days); a Schedule or a window overrides its rules. */
function rotationRules(options: RotateOptions): Rules {
  const schedule = options.schedule ?? options.automaticallyAfter;
  let window: string | undefined;
  if (options.window !== undefined) {
    const hours = options.window.toHours();
    if (!Token.isUnresolved(hours) && (!Number.isInteger(hours) || hours < 1 || hours > 24)) {
      throw new Error(`rotate: window is ${options.window.toHumanString()}: expected whole hours from 1 to 24`);
    }
    window = `${hours}h`;
  }
  if (schedule === undefined || schedule instanceof Duration) {
    const automaticallyAfter = schedule ?? Duration.days(30);
    if (window === undefined) return { automaticallyAfter };
    return { automaticallyAfter, override: { scheduleExpression: events.Schedule.rate(automaticallyAfter).expressionString, duration: window } };
  }
  const expression = schedule.expressionString;
  checkExpression(expression);
  return { override: { scheduleExpression: expression, duration: window } };
}

/** Secrets Manager takes rate(N hours|days), at least 4 hours, or cron(…); EventBridge's minutes are refused. */
function checkExpression(expression: string): void {
  if (Token.isUnresolved(expression)) return;
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const hours = Number(rate[1]) * (rate[2].startsWith('day') ? 24 : 1);
    if (hours < 4 || hours > 1000 * 24) throw new Error(`rotate: ${expression}: Secrets Manager rotates every 4 hours to 1000 days`);
    return;
  }
  if (!/^cron\(.+\)$/.test(expression)) {
    throw new Error(`rotate: ${expression}: Secrets Manager takes rate(N hours), rate(N days) or cron(…)`);
  }
}

/** `/rds-rotator/<stack name>/<path in the stack>`, unique per rotator, in the characters log group names allow. */
function defaultLogGroupName(construct: IConstruct): string {
  const stackPath = Stack.of(construct).node.path;
  const own = construct.node.path.slice(stackPath.length).replace(/^\//, '').replace(/[^A-Za-z0-9_\-/.#]/g, '-');
  return `/rds-rotator/${Aws.STACK_NAME}/${own}`;
}

/** The zip `make build` writes (target/lambda/rds-rotator/bootstrap.zip), when this package runs from the repository. */
function localBuild(): lambda.Code {
  const zip = path.resolve(__dirname, '..', '..', '..', 'target', 'lambda', 'rds-rotator', 'bootstrap.zip');
  if (!fs.existsSync(zip)) {
    throw new Error(`RdsRotator: no code given and no local build at ${zip}: run make build, or give code ` +
      '(lambda.Code.fromBucket(bucket, key) for a released zip, lambda.Code.fromAsset(path) for a local one)');
  }
  return lambda.Code.fromAsset(zip);
}
