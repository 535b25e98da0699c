// cdk-nag's AwsSolutions pack: nothing the rotator deploys is reported, and the example app is clean. The rotator
// acknowledges one finding, with its reason: IAM5 for the two statements on * (rds:Describe*, the ENI actions).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { App, Duration, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { RdsRotator } from '../lib';
import { ExampleStack } from './example-app';
import { code, newStack } from './helpers';

function violations(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

describe('AwsSolutions', () => {
  test('a rotator with every feature on: no finding, error or warning', () => {
    const stack = newStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const rotator = new RdsRotator(stack, 'Rotator', {
      code: code(), vpc, alarmTopic: new sns.Topic(stack, 'Topic', { enforceSSL: true, masterKey: key }),
      breakGlassDbArns: ['arn:aws:rds:eu-west-1:111122223333:db:prod'], kmsKeys: [key],
      secrets: [secretsmanager.Secret.fromSecretNameV2(stack, 'Attached', 'prod/attached')],
    });
    const master = new secretsmanager.Secret(stack, 'Master', { encryptionKey: key });
    rotator.rotate(master, { schedule: Duration.days(7) });
    rotator.rotate(new secretsmanager.Secret(stack, 'App', { encryptionKey: key }), { masterSecret: master });
    rotator.rotate(secretsmanager.Secret.fromSecretNameV2(stack, 'ByName', 'prod/app'));
    // The VPC's flow logs are the user's business, not the rotator's.
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'A test VPC standing for the user\'s own.' });
    assert.deepEqual(violations(stack), []);
  });

  test('the one acknowledgement is on the policy, names the finding, and says why', () => {
    const stack = newStack();
    const rotator = new RdsRotator(stack, 'Rotator', { code: code() });
    const entries = rotator.policy.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    const acknowledged = Object.assign({}, ...entries.map((m) => m.data as Record<string, string>));
    const ids = Object.keys(acknowledged).map((id) => id.replace(/^annotation::/i, ''));
    assert.deepEqual(ids, ['AwsSolutions-IAM5[Resource::*]']);
    assert.match(String(Object.values(acknowledged)[0]), /rds:DescribeDBInstances.*network-interface/s);
    // Nothing else in the construct acknowledges anything.
    const others = rotator.node.findAll().filter((c) => c !== rotator.policy &&
      c.node.metadata.some((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    assert.deepEqual(others.map((c) => c.node.path), []);
  });

  test('the pack does report what the acknowledgement covers, where none is given', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['rds:DescribeDBInstances'], resources: ['*'] }));
    assert.deepEqual(violations(stack), ['error AwsSolutions-IAM5[Resource::*]: Test/Role/DefaultPolicy/Resource']);
  });

  test('the example app (test/example-app.ts): no finding', () => {
    const stack = new ExampleStack(new App({ analyticsReporting: false }), 'Example', { code: code() });
    assert.deepEqual(violations(stack), []);
  });
});
