// RdsRotator on its own: what it deploys, held to template.yaml and src/config.rs, and the grants rotate() adds.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { RdsRotator, RdsRotatorProps } from '../lib';
import { code, configVariables, environment, newStack, only, samTemplate, statements } from './helpers';

function rotator(props: RdsRotatorProps = {}, stack = newStack()): { stack: Stack; rotator: RdsRotator } {
  return { stack, rotator: new RdsRotator(stack, 'Rotator', { code: code(), ...props }) };
}

const ROTATE = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
];

describe('the function, as template.yaml deploys it', () => {
  const { stack } = rotator();
  const template = Template.fromStack(stack);

  test('one of each resource, no more', () => {
    for (const [type, count] of Object.entries({
      'AWS::Lambda::Function': 1, 'AWS::Logs::LogGroup': 1, 'AWS::IAM::Role': 1, 'AWS::IAM::Policy': 1,
      'AWS::Lambda::Permission': 1, 'AWS::CloudWatch::Alarm': 1, 'AWS::CloudWatch::Dashboard': 1,
      'AWS::SecretsManager::RotationSchedule': 0, 'AWS::EC2::SecurityGroup': 0,
    })) template.resourceCountIs(type, count);
  });

  test('runtime, handler, architecture, timeout, memory and JSON logs into its own log group', () => {
    const [logGroup] = only(template, 'AWS::Logs::LogGroup');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023', Handler: 'bootstrap', Architectures: ['arm64'], Timeout: 150, MemorySize: 128,
      LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN', LogGroup: { Ref: logGroup } },
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain',
    });
  });

  test("the environment is template.yaml's at its parameters' defaults", () => {
    const sam = samTemplate();
    const expected: Record<string, string> = {};
    for (const [variable, source] of Object.entries(sam.variables)) {
      if (source.startsWith('?')) continue; // set only when its parameter is given
      const value = source in sam.defaults ? sam.defaults[source] : source.replace(/^!If \[\w+, "(\w+)", "(\w+)"\]$/, '$2');
      if (value !== '') expected[variable] = value; // empty counts as unset (src/config.rs)
    }
    assert.deepEqual(environment(template), expected);
  });

  test('every variable it sets is one src/config.rs reads, and it can set every one template.yaml sets', () => {
    const all = rotator({
      excludeCharacters: '', defaultEngine: 'postgres', usernameCharacterLimit: 16, dbExtraCaBundle: '/opt/ca.pem',
      secretsManagerEndpoint: 'https://vpce.example', rdsEndpoint: 'https://rds.example',
      breakGlassDbArns: ['arn:aws:rds:eu-west-1:111122223333:db:prod'],
      masterSecrets: [secretsmanager.Secret.fromSecretNameV2(newStack(), 'M', 'master')],
    });
    const variables = Object.keys(environment(Template.fromStack(all.stack)));
    const read = configVariables();
    assert.deepEqual(variables.filter((v) => !read.has(v)), []);
    assert.deepEqual(variables.sort(), Object.keys(samTemplate().variables).sort());
  });

  test('a role of its own, no managed policy; the policy holds only what needs no secret', () => {
    const [, role] = only(template, 'AWS::IAM::Role');
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement,
      [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }]);
    const [logGroup] = only(template, 'AWS::Logs::LogGroup');
    assert.deepEqual(statements(template), {
      ResolveEndpoints: {
        Sid: 'ResolveEndpoints', Effect: 'Allow', Action: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'], Resource: '*',
      },
      WriteItsLogs: {
        Sid: 'WriteItsLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] },
      },
    });
  });

  test('Secrets Manager may invoke it from this account only (SourceAccount)', () => {
    const [fn] = only(template, 'AWS::Lambda::Function');
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction', Principal: 'secretsmanager.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] }, SourceAccount: { Ref: 'AWS::AccountId' },
    });
  });

  test("the errors alarm is template.yaml's", () => {
    const [fn] = only(template, 'AWS::Lambda::Function');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
      Statistic: 'Sum', Period: 300, EvaluationPeriods: 1, Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching', AlarmActions: Match.absent(),
    });
  });

  test("the dashboard has template.yaml's widgets, in its order", () => {
    const titles = (metrics: string) => {
      const { stack: s } = rotator({ metricsNamespace: metrics });
      const [, dashboard] = only(Template.fromStack(s), 'AWS::CloudWatch::Dashboard');
      const body = JSON.stringify(dashboard.Properties.DashboardBody);
      return [...body.matchAll(/\\"title\\":\\"([^\\]+)\\"/g)].map((m) => m[1]);
    };
    const sam = samTemplate().widgetTitles;
    assert.equal(sam.length, 7);
    assert.deepEqual(titles('rds-rotator'), sam);
    // No metric lines without a namespace: the step widgets are left out, as in template.yaml.
    assert.deepEqual(titles(''), [sam[0], ...sam.slice(4)]);
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    assert.match(body, /SEARCH\('\{\\\\\\"rds-rotator\\\\\\",Step,Outcome\} MetricName=\\\\\\"Duration\\\\\\"', 'SampleCount'\)/);
    assert.match(body, /\$\{PROP\('Dim.Step'\)\}/);
  });
});

describe('rotate(secret): grants per secret', () => {
  test('the four rotation actions on each rotated secret, its key through Secrets Manager, nothing on *', () => {
    const { stack, rotator: r } = rotator();
    const key = new kms.Key(stack, 'Key');
    const encrypted = new secretsmanager.Secret(stack, 'Encrypted', { encryptionKey: key });
    const plain = new secretsmanager.Secret(stack, 'Plain');
    const byName = secretsmanager.Secret.fromSecretNameV2(stack, 'ByName', 'prod/app');
    const byArn = secretsmanager.Secret.fromSecretCompleteArn(stack, 'ByArn',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/report-AbC123');
    const unrotated = new secretsmanager.Secret(stack, 'Other');
    for (const s of [encrypted, plain, byName, byArn, unrotated]) r.rotate(s);
    const template = Template.fromStack(stack);
    const policy = statements(template);
    const id = (prefix: string) => Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((k) => k.startsWith(prefix));
    assert.deepEqual(policy.RotateTheNamedSecrets.Action, ROTATE);
    assert.deepEqual(policy.RotateTheNamedSecrets.Resource, [
      { Ref: id('Encrypted') },
      { Ref: id('Plain') },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':',
        { Ref: 'AWS::AccountId' }, ':secret:prod/app-??????']] },
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/report-AbC123',
      { Ref: id('Other') },
    ]);
    const [keyId] = only(template, 'AWS::KMS::Key');
    assert.deepEqual(policy.UseTheSecretsKey, {
      Sid: 'UseTheSecretsKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      Condition: { StringEquals: { 'kms:ViaService': {
        'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
    });
    const text = JSON.stringify(template.toJSON());
    assert.doesNotMatch(text, /GetRandomPassword/);
    for (const statement of Object.values(policy)) {
      if (statement.Action.some((a: string) => a.startsWith('secretsmanager:') || a.startsWith('kms:'))) {
        assert.doesNotMatch(JSON.stringify(statement.Resource), /\*/, statement.Sid);
      }
    }
    // One account-wide permission serves every schedule; RotationSchedule added none of its own.
    template.resourceCountIs('AWS::Lambda::Permission', 1);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 5);
  });

  test('a secret given twice is granted once; a second schedule for it is refused', () => {
    const { stack, rotator: r } = rotator();
    const secret = new secretsmanager.Secret(stack, 'Secret');
    r.grantRotation(secret);
    r.rotate(secret);
    assert.throws(() => r.rotate(secret), /already has a child RotationSchedule/);
    const template = Template.fromStack(stack);
    const [id] = only(template, 'AWS::SecretsManager::Secret');
    assert.deepEqual(statements(template).RotateTheNamedSecrets.Resource, { Ref: id }, 'one resource, named once');
  });

  test('secrets rotated outside CDK (secrets, kmsKeys) are granted without a schedule', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'prod/batch');
    const template = Template.fromStack(rotator({ secrets: [secret], kmsKeys: [key] }, stack).stack);
    const policy = statements(template);
    assert.match(JSON.stringify(policy.RotateTheNamedSecrets.Resource), /^\{"Fn::Join".*:secret:prod\/batch-\?{6}"\]\]\}$/);
    assert.equal(policy.UseTheSecretsKey.Resource, 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
  });

  test('alternating users: the master is read-only, its key decrypt-only, and MASTER_SECRET_ARNS lists every master', () => {
    const { stack, rotator: r } = rotator();
    const key = new kms.Key(stack, 'MasterKey');
    const master1 = new secretsmanager.Secret(stack, 'Master1', { encryptionKey: key });
    const master2 = secretsmanager.Secret.fromSecretNameV2(stack, 'Master2', 'rds/master');
    r.rotate(new secretsmanager.Secret(stack, 'App1'), { masterSecret: master1 });
    r.rotate(new secretsmanager.Secret(stack, 'App2'), { masterSecret: master2 });
    r.rotate(new secretsmanager.Secret(stack, 'App3'), { masterSecret: master1 });
    const template = Template.fromStack(stack);
    const policy = statements(template);
    const master1Id = Object.keys(template.findResources('AWS::SecretsManager::Secret')).find((k) => k.startsWith('Master1'))!;
    assert.deepEqual(policy.ReadTheMasterSecret.Action, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']);
    assert.equal(policy.ReadTheMasterSecret.Resource.length, 2);
    assert.equal(policy.ReadTheMasterSecretsKey.Action, 'kms:Decrypt');
    assert.equal(policy.UseTheSecretsKey, undefined, 'the rotated secrets have no key of their own');
    // Resolved after the last rotate() call: a Ref for the first master, the name for the one CDK knows by name.
    assert.deepEqual(environment(template).MASTER_SECRET_ARNS, { 'Fn::Join': ['', [{ Ref: master1Id }, ',rds/master']] });
  });

  test('no master secret: MASTER_SECRET_ARNS is not set, and the function refuses alternating users', () => {
    const { stack, rotator: r } = rotator();
    r.rotate(new secretsmanager.Secret(stack, 'App'));
    assert.equal(environment(Template.fromStack(stack)).MASTER_SECRET_ARNS, undefined);
  });

  test('restrictInvokeToSecrets: one permission per secret, with SourceArn beside SourceAccount', () => {
    const { stack, rotator: r } = rotator({ restrictInvokeToSecrets: true });
    const a = new secretsmanager.Secret(stack, 'A');
    r.rotate(a);
    r.rotate(secretsmanager.Secret.fromSecretNameV2(stack, 'B', 'prod/b'));
    const template = Template.fromStack(stack);
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    assert.equal(permissions.length, 2);
    for (const p of permissions) {
      assert.deepEqual(p.Properties.SourceAccount, { Ref: 'AWS::AccountId' });
      assert.ok(p.Properties.SourceArn);
    }
    const [aId] = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
    assert.ok(permissions.some((p) => JSON.stringify(p.Properties.SourceArn) === JSON.stringify({ Ref: aId })));
    assert.ok(permissions.some((p) => JSON.stringify(p.Properties.SourceArn).includes(':secret:prod/b-??????')));
    // Each schedule waits for its own secret's permission.
    const [permA] = Object.entries(template.findResources('AWS::Lambda::Permission'))
      .find(([, p]) => JSON.stringify(p.Properties.SourceArn) === JSON.stringify({ Ref: aId }))!;
    const [, scheduleA] = Object.entries(template.findResources('AWS::SecretsManager::RotationSchedule'))
      .find(([, s]) => JSON.stringify(s.Properties.SecretId) === JSON.stringify({ Ref: aId }))!;
    assert.ok(scheduleA.DependsOn.includes(permA));
  });
});

describe('rotate(secret): the schedule', () => {
  function schedules(configure: (r: RdsRotator, stack: Stack) => void): any[] {
    const { stack, rotator: r } = rotator();
    configure(r, stack);
    return Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::RotationSchedule'));
  }

  test('under the secret, naming the function, after its grants and the permission', () => {
    const { stack, rotator: r } = rotator();
    r.rotate(new secretsmanager.Secret(stack, 'Secret'));
    const template = Template.fromStack(stack);
    const [id, schedule] = only(template, 'AWS::SecretsManager::RotationSchedule');
    assert.match(id, /^SecretRotationSchedule/);
    const [fn] = only(template, 'AWS::Lambda::Function');
    const [policy] = only(template, 'AWS::IAM::Policy');
    const [permission] = only(template, 'AWS::Lambda::Permission');
    assert.deepEqual(schedule.Properties.RotationLambdaARN, { 'Fn::GetAtt': [fn, 'Arn'] });
    assert.deepEqual(schedule.Properties.RotationRules, { ScheduleExpression: 'rate(30 days)' });
    assert.equal(schedule.Properties.HostedRotationLambda, undefined);
    assert.ok(schedule.DependsOn.includes(policy) && schedule.DependsOn.includes(permission), schedule.DependsOn);
    // The function itself waits for its policy (in a VPC, Lambda checks the role may create network interfaces).
    assert.ok(only(template, 'AWS::Lambda::Function')[1].DependsOn.includes(policy));
  });

  test('a Duration, automaticallyAfter, a cron Schedule, a window', () => {
    const rules = schedules((r, s) => {
      r.rotate(new secretsmanager.Secret(s, 'A'), { schedule: Duration.days(7) });
      r.rotate(new secretsmanager.Secret(s, 'B'), { automaticallyAfter: Duration.hours(12), rotateImmediatelyOnUpdate: false });
      r.rotate(new secretsmanager.Secret(s, 'C'), {
        schedule: events.Schedule.cron({ minute: '0', hour: '4', weekDay: 'SUN' }), window: Duration.hours(3),
      });
      r.rotate(new secretsmanager.Secret(s, 'D'), { schedule: Duration.days(1), window: Duration.hours(2) });
    }).map((s) => [s.Properties.RotationRules, s.Properties.RotateImmediatelyOnUpdate]);
    assert.deepEqual(rules, [
      [{ ScheduleExpression: 'rate(7 days)' }, undefined],
      [{ ScheduleExpression: 'rate(12 hours)' }, false],
      [{ ScheduleExpression: 'cron(0 4 ? * SUN *)', Duration: '3h' }, undefined],
      [{ ScheduleExpression: 'rate(1 day)', Duration: '2h' }, undefined],
    ]);
  });

  test('schedules Secrets Manager refuses are refused at synthesis', () => {
    const refuse = (options: object, message: RegExp) => {
      const { stack, rotator: r } = rotator();
      assert.throws(() => r.rotate(new secretsmanager.Secret(stack, 'S'), options), message);
    };
    refuse({ schedule: Duration.hours(1) }, /4 hours/);
    refuse({ schedule: events.Schedule.rate(Duration.minutes(90)) }, /rate\(N hours\)/);
    refuse({ schedule: events.Schedule.rate(Duration.hours(2)) }, /every 4 hours to 1000 days/);
    refuse({ schedule: Duration.days(7), window: Duration.hours(30) }, /whole hours from 1 to 24/);
    refuse({ schedule: Duration.days(7), automaticallyAfter: Duration.days(7) }, /not both/);
  });

  test('a secret of another stack: the schedule is made in the rotator\'s stack, with a warning, and no cycle', () => {
    const app = new App({ analyticsReporting: false });
    const data = new Stack(app, 'Data');
    const secret = new secretsmanager.Secret(data, 'Secret');
    const platform = new Stack(app, 'Platform');
    const r = new RdsRotator(platform, 'Rotator', { code: code() });
    r.rotate(secret);
    app.synth();
    Template.fromStack(platform).resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    Template.fromStack(data).resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    Annotations.fromStack(platform).hasWarning('/Platform/Rotator', Match.stringLikeRegexp('cloudformation-coverage-roadmap #1813'));
  });
});

describe('rotate(secret): the network', () => {
  test('in a VPC: the database accepts the function on its port; ENI actions are granted', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const db = new rds.DatabaseInstance(stack, 'Db', {
      vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }), port: 5433,
    });
    const { rotator: r } = rotator({ vpc }, stack);
    r.rotate(db.secret!, { database: db });
    const template = Template.fromStack(stack);
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const fnGroup = Object.keys(groups).find((k) => k.startsWith('RotatorFunctionSecurityGroup'))!;
    const dbGroup = Object.keys(groups).find((k) => k.startsWith('DbSecurityGroup'))!;
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp', FromPort: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Db'), 'Endpoint.Port'] },
      GroupId: { 'Fn::GetAtt': [dbGroup, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [fnGroup, 'GroupId'] },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [fnGroup, 'GroupId'] }] },
    });
    assert.deepEqual(statements(template).RunInTheVpc.Action, [
      'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
    ]);
  });

  test('out of a VPC: no ENI actions, and a database to open is an error', () => {
    const { stack, rotator: r } = rotator();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const db = new rds.DatabaseInstance(stack, 'Db', {
      vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
    });
    assert.throws(() => r.rotate(db.secret!, { database: db }), /needs the rotator in a VPC/);
    assert.throws(() => r.connections, /not in a VPC/);
    assert.equal(statements(Template.fromStack(stack)).RunInTheVpc, undefined);
  });
});

describe('props', () => {
  test('settings become their variables', () => {
    const { stack } = rotator({
      passwordLength: 40, excludeCharacters: '', excludePunctuation: true, requireEachIncludedType: false,
      dbTlsMode: 'require', dbTlsMinimum: 'verify-full', masterTlsMode: 'verify-full', defaultEngine: 'mariadb',
      connectTimeout: Duration.seconds(3), statementTimeout: Duration.seconds(20), propagationTimeout: Duration.minutes(1),
      metricsNamespace: 'team/rotations', logLevel: 'DEBUG', architecture: lambda.Architecture.X86_64,
    });
    const template = Template.fromStack(stack);
    assert.deepEqual(environment(template), {
      PASSWORD_LENGTH: '40', EXCLUDE_CHARACTERS: '', EXCLUDE_NUMBERS: 'false', EXCLUDE_PUNCTUATION: 'true',
      EXCLUDE_UPPERCASE: 'false', EXCLUDE_LOWERCASE: 'false', REQUIRE_EACH_INCLUDED_TYPE: 'false',
      DEFAULT_ENGINE: 'mariadb', DB_TLS_MODE: 'require', DB_TLS_MINIMUM: 'verify-full', MASTER_TLS_MODE: 'verify-full',
      CONNECT_TIMEOUT_SECONDS: '3', STATEMENT_TIMEOUT_SECONDS: '20', METRICS_NAMESPACE: 'team/rotations',
      PROPAGATION_TIMEOUT_SECONDS: '60', BREAK_GLASS_MASTER_RESET: 'false',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['x86_64'], LoggingConfig: Match.objectLike({ ApplicationLogLevel: 'DEBUG' }),
    });
  });

  test("values outside template.yaml's bounds are refused at synthesis", () => {
    const refuse = (props: RdsRotatorProps, message: RegExp) => assert.throws(() => rotator(props), message);
    refuse({ passwordLength: 0 }, /passwordLength is 0/);
    refuse({ passwordLength: 4097 }, /passwordLength/);
    refuse({ usernameCharacterLimit: 129 }, /usernameCharacterLimit/);
    refuse({ connectTimeout: Duration.seconds(11) }, /connectTimeout.*1 to 10/);
    refuse({ statementTimeout: Duration.seconds(31) }, /statementTimeout/);
    refuse({ propagationTimeout: Duration.seconds(61) }, /propagationTimeout/);
    refuse({ metricsNamespace: 'a"b' }, /quotes or backslashes/);
    refuse({ dbTlsMode: 'allow' as never }, /dbTlsMode/);
    refuse({ dbTlsMinimum: 'prefer' as never }, /dbTlsMinimum/);
    refuse({ defaultEngine: 'oracle' as never }, /defaultEngine/);
    refuse({ secretsManagerEndpoint: 'vpce.example' }, /https/);
    refuse({ breakGlassDbArns: ['prod-db'] }, /not the ARN/);
    refuse({ securityGroups: [] }, /need vpc/);
  });

  test('break-glass: the listed instances and clusters only', () => {
    const arns = ['arn:aws:rds:eu-west-1:111122223333:db:prod', 'arn:aws:rds:eu-west-1:111122223333:cluster:reports'];
    const template = Template.fromStack(rotator({ breakGlassDbArns: arns }).stack);
    assert.deepEqual(statements(template).BreakGlassMasterReset.Resource, arns);
    assert.deepEqual(statements(template).BreakGlassMasterReset.Action, ['rds:ModifyDBInstance', 'rds:ModifyDBCluster']);
    const env = environment(template);
    assert.equal(env.BREAK_GLASS_MASTER_RESET, 'true');
    assert.equal(env.BREAK_GLASS_DB_IDENTIFIERS, arns.join(','));
  });

  test('a permissions boundary on the created role (aws-cdk #19649)', () => {
    const stack = newStack();
    const boundary = iam.ManagedPolicy.fromManagedPolicyName(stack, 'Boundary', 'platform-boundary');
    rotator({ permissionsBoundary: boundary }, stack);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Role', {
      PermissionsBoundary: { 'Fn::Join': ['', Match.arrayWith([':policy/platform-boundary'])] },
    });
  });

  test('your own role: no role is created, the grants are attached to it; a boundary beside it is refused', () => {
    const stack = newStack();
    const role = iam.Role.fromRoleArn(stack, 'Own', 'arn:aws:iam::111122223333:role/rotation');
    const { rotator: r } = rotator({ role }, stack);
    r.rotate(new secretsmanager.Secret(stack, 'S'));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::Role', 0);
    template.hasResourceProperties('AWS::IAM::Policy', { Roles: ['rotation'] });
    template.hasResourceProperties('AWS::Lambda::Function', { Role: 'arn:aws:iam::111122223333:role/rotation' });
    const boundary = iam.ManagedPolicy.fromManagedPolicyName(stack, 'B', 'b');
    assert.throws(() => new RdsRotator(stack, 'R2', { code: code(), role, permissionsBoundary: boundary }), /own role/);
  });

  test('an immutable role: the construct adds nothing to it', () => {
    const stack = newStack();
    const role = iam.Role.fromRoleArn(stack, 'Own', 'arn:aws:iam::111122223333:role/rotation', { mutable: false });
    const { rotator: r } = rotator({ role }, stack);
    r.rotate(new secretsmanager.Secret(stack, 'S'));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
  });

  test('alarm topic, log retention and name, function and dashboard names, no dashboard', () => {
    const stack = newStack();
    const topic = new sns.Topic(stack, 'Topic');
    rotator({
      alarmTopic: topic, logRetention: 365, logGroupName: '/platform/rotation', functionName: 'rds-rotator',
      dashboardName: 'rotation',
    }, stack);
    const template = Template.fromStack(stack);
    const [topicId] = only(template, 'AWS::SNS::Topic');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: topicId }] });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/platform/rotation', RetentionInDays: 365 });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'rds-rotator' });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'rotation' });
    Template.fromStack(rotator({ dashboard: false }).stack).resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  });

  test('two rotators in one stack: their log groups do not collide', () => {
    const stack = newStack();
    new RdsRotator(stack, 'A', { code: code() });
    new RdsRotator(stack, 'B', { code: code() });
    const names = Object.values(Template.fromStack(stack).findResources('AWS::Logs::LogGroup'))
      .map((g) => JSON.stringify(g.Properties.LogGroupName));
    assert.equal(new Set(names).size, 2);
    assert.match(names[0], /\/rds-rotator\/.*AWS::StackName.*\/A"/);
  });

  test('no code: the local build, or an error saying how to get one', () => {
    const stack = newStack();
    try {
      new RdsRotator(stack, 'Rotator');
      Template.fromStack(stack).resourceCountIs('AWS::Lambda::Function', 1);
    } catch (err) {
      assert.match(String(err), /make build.*Code\.fromBucket/s);
    }
  });
});
