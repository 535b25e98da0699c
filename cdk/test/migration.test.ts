// Switching from HostedRotation: the same call site, `secret.addRotationSchedule('RotationSchedule', { hostedRotation:
// HostedRotation.postgreSqlSingleUser(…) })` becoming `rotator.rotate(secret)`, keeps the schedule's logical id (an
// in-place update of the AWS::SecretsManager::RotationSchedule; a new id would create a second schedule for the
// secret and then delete the old one, switching rotation off: cloudformation-coverage-roadmap #1813), and drops the
// transform that deploys AWS's Python function.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RdsRotator } from '../lib';
import { code, newStack, only, statements } from './helpers';

interface Databases {
  readonly stack: Stack;
  readonly vpc: ec2.Vpc;
  readonly instance: rds.DatabaseInstance;
  readonly appUser: secretsmanager.ISecret;
}

/** A stack as a HostedRotation user has it: a PostgreSQL instance, its master secret, an application user's secret. */
function databases(): Databases {
  const stack = newStack('App');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
  const instance = new rds.DatabaseInstance(stack, 'Db', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
  });
  const key = new kms.Key(stack, 'Key');
  const appUser = new rds.DatabaseSecret(stack, 'AppUser', { username: 'app', masterSecret: instance.secret, encryptionKey: key })
    .attach(instance);
  return { stack, vpc, instance, appUser };
}

function schedules(template: Template): Record<string, any> {
  return template.findResources('AWS::SecretsManager::RotationSchedule');
}

describe('from HostedRotation', () => {
  const before = databases();
  const single = secretsmanager.HostedRotation.postgreSqlSingleUser({ vpc: before.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } });
  before.instance.secret!.addRotationSchedule('RotationSchedule', { hostedRotation: single, automaticallyAfter: Duration.days(7) });
  before.instance.connections.allowDefaultPortFrom(single);
  const multi = secretsmanager.HostedRotation.postgreSqlMultiUser({ vpc: before.vpc, masterSecret: before.instance.secret! });
  before.appUser.addRotationSchedule('RotationSchedule', { hostedRotation: multi });
  before.instance.connections.allowDefaultPortFrom(multi);
  const hosted = Template.fromStack(before.stack);

  const after = databases();
  const rotator = new RdsRotator(after.stack, 'Rotator', {
    code: code(), vpc: after.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  rotator.rotate(after.instance.secret!, { automaticallyAfter: Duration.days(7), database: after.instance });
  rotator.rotate(after.appUser, { masterSecret: after.instance.secret, database: after.instance });
  const ours = Template.fromStack(after.stack);

  test('each schedule keeps its logical id and its rules', () => {
    assert.deepEqual(Object.keys(schedules(ours)).sort(), Object.keys(schedules(hosted)).sort());
    for (const [id, schedule] of Object.entries(schedules(ours))) {
      assert.deepEqual(schedule.Properties.RotationRules, schedules(hosted)[id].Properties.RotationRules, id);
      assert.deepEqual(schedule.Properties.SecretId, schedules(hosted)[id].Properties.SecretId, id);
    }
  });

  test("the hosted rotation's transform and Python function give way to the rotator's function", () => {
    assert.deepEqual(hosted.toJSON().Transform, ['AWS::SecretsManager-2024-09-16']);
    assert.equal(ours.toJSON().Transform, undefined);
    const [fn] = only(ours, 'AWS::Lambda::Function');
    for (const schedule of Object.values(schedules(ours))) {
      assert.equal(schedule.Properties.HostedRotationLambda, undefined);
      assert.deepEqual(schedule.Properties.RotationLambdaARN, { 'Fn::GetAtt': [fn, 'Arn'] });
    }
    for (const schedule of Object.values(schedules(hosted))) {
      assert.match(schedule.Properties.HostedRotationLambda.RotationType, /^PostgreSQL(Single|Multi)User$/);
    }
  });

  test("the database's ingress rules come from the rotator's security group instead of the hosted ones", () => {
    const ingress = (t: Template) => Object.values(t.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]);
    assert.equal(new Set(ingress(hosted)).size, 2, 'one security group per hosted rotation');
    assert.deepEqual([...new Set(ingress(ours))], [Object.keys(ours.findResources('AWS::EC2::SecurityGroup'))
      .find((k) => k.startsWith('RotatorFunctionSecurityGroup'))]);
  });

  test('the grants name the two secrets, the master and the key; MASTER_SECRET_ARNS names the master', () => {
    const policy = statements(ours);
    assert.equal(policy.RotateTheNamedSecrets.Resource.length, 2);
    assert.ok(policy.ReadTheMasterSecret);
    assert.ok(policy.UseTheSecretsKey);
    const [, fn] = only(ours, 'AWS::Lambda::Function');
    assert.deepEqual(fn.Properties.Environment.Variables.MASTER_SECRET_ARNS, policy.ReadTheMasterSecret.Resource);
  });
});

describe('from addRotationSingleUser / addRotationMultiUser (the SecretRotation SAR application)', () => {
  const before = databases();
  before.instance.addRotationSingleUser({ automaticallyAfter: Duration.days(7) });
  before.instance.addRotationMultiUser('App', { secret: before.appUser });
  const sar = Template.fromStack(before.stack);

  const after = databases();
  const rotator = new RdsRotator(after.stack, 'Rotator', { code: code(), vpc: after.vpc });
  rotator.rotate(after.instance.secret!, { automaticallyAfter: Duration.days(7), database: after.instance });
  rotator.rotate(after.appUser, { masterSecret: after.instance.secret, database: after.instance });
  const ours = Template.fromStack(after.stack);

  test('each schedule keeps its logical id; the SAR applications go', () => {
    assert.deepEqual(Object.keys(schedules(ours)).sort(), Object.keys(schedules(sar)).sort());
    assert.equal(Object.keys(sar.findResources('AWS::Serverless::Application')).length, 2);
    assert.equal(Object.keys(ours.findResources('AWS::Serverless::Application')).length, 0);
    assert.equal(ours.toJSON().Transform, undefined);
  });
});
