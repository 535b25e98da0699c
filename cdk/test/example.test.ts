// The example app synthesizes into a directory (as scripts/cdk-test.sh does before cfn-lint and
// scripts/check-template.py --cdk) with what it says: four schedules on one function, three databases opened to it.
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { synthExample } from './example-app';
import { code } from './helpers';

test('the example app: one function, four schedules, each database and the endpoint open to it, two masters listed', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-rotator-example-'));
  try {
    const template = JSON.parse(fs.readFileSync(synthExample(outdir, code()), 'utf8'));
    const of = (type: string) => Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);
    const functions = of('AWS::Lambda::Function').filter(([, r]) => r.Properties.Handler === 'bootstrap');
    assert.equal(functions.length, 1);
    const [fn, props] = functions[0];
    const schedules = of('AWS::SecretsManager::RotationSchedule');
    assert.equal(schedules.length, 4);
    for (const [, s] of schedules) assert.deepEqual(s.Properties.RotationLambdaARN, { 'Fn::GetAtt': [fn, 'Arn'] });
    const fnGroup = props.Properties.VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'][0];
    const opened = of('AWS::EC2::SecurityGroupIngress').filter(([, r]) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0] === fnGroup);
    assert.equal(opened.length, 4, 'PostgreSQL, MariaDB, Aurora and the Secrets Manager endpoint');
    assert.equal(props.Properties.Environment.Variables.DB_TLS_MINIMUM, 'verify-full');
    assert.ok(props.Properties.Environment.Variables.MASTER_SECRET_ARNS.Ref, 'the MariaDB master, the one master');
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});
