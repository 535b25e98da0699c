// The example app the tests synthesize and scripts/cdk-test.sh lints: a VPC with a Secrets Manager endpoint and no
// NAT, one RdsRotator for three databases — a PostgreSQL instance (its master secret, single user), a MariaDB
// instance (an application user's secret with alternating users, its master secret as the master, both under a
// customer-managed KMS key) and an Aurora MySQL cluster (its master secret, single user, the same key). (Aurora has
// no MariaDB engine: the MariaDB database here is an RDS instance.)
//
//   node dist/test/example-app.js OUTDIR CODE_DIR    synthesize into OUTDIR, the function's code from CODE_DIR
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { RdsRotator } from '../lib';

export interface ExampleStackProps extends StackProps {
  /** The function's code: a placeholder in tests, a released zip or `make build`'s output for real. */
  readonly code: lambda.Code;
}

export class ExampleStack extends Stack {
  public readonly rotator: RdsRotator;
  public readonly postgres: rds.DatabaseInstance;
  public readonly mariadb: rds.DatabaseInstance;
  public readonly aurora: rds.DatabaseCluster;
  public readonly appUser: rds.DatabaseSecret;

  constructor(scope: Construct, id: string, props: ExampleStackProps) {
    super(scope, id, props);
    const vpc = new ec2.Vpc(this, 'Vpc', {
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    vpc.addFlowLog('FlowLog');
    // The function's route to Secrets Manager, without a NAT gateway; open to the rotator only (below).
    const endpoint = vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      open: false,
    });
    const key = new kms.Key(this, 'SecretsKey', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
    const alarms = new sns.Topic(this, 'Alarms', { enforceSSL: true, masterKey: key });

    const database = {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      multiAz: true,
      deletionProtection: true,
      iamAuthentication: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    };
    this.postgres = new rds.DatabaseInstance(this, 'Postgres', {
      ...database,
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
      port: 5433,
      credentials: rds.Credentials.fromGeneratedSecret('postgres'),
    });
    this.mariadb = new rds.DatabaseInstance(this, 'MariaDb', {
      ...database,
      engine: rds.DatabaseInstanceEngine.mariaDb({ version: rds.MariaDbEngineVersion.VER_10_11_16 }),
      port: 3307,
      credentials: rds.Credentials.fromGeneratedSecret('admin', { encryptionKey: key }),
    });
    this.aurora = new rds.DatabaseCluster(this, 'Aurora', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      engine: rds.DatabaseClusterEngine.auroraMysql({ version: rds.AuroraMysqlEngineVersion.VER_3_10_4 }),
      writer: rds.ClusterInstance.provisioned('Writer'),
      port: 3308,
      storageEncrypted: true,
      deletionProtection: true,
      iamAuthentication: true,
      backtrackWindow: Duration.hours(24),
      cloudwatchLogsExports: ['audit', 'error', 'general', 'slowquery'],
      credentials: rds.Credentials.fromGeneratedSecret('admin', { encryptionKey: key }),
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    // Alternating users: the application's user and its clone, managed by the MariaDB master (the secret's masterarn).
    this.appUser = new rds.DatabaseSecret(this, 'AppUser', {
      username: 'app',
      masterSecret: this.mariadb.secret,
      encryptionKey: key,
    });
    const appUser = this.appUser.attach(this.mariadb);

    this.rotator = new RdsRotator(this, 'Rotator', {
      code: props.code,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      alarmTopic: alarms,
      dbTlsMinimum: 'verify-full',
    });
    endpoint.connections.allowDefaultPortFrom(this.rotator, 'rds-rotator to Secrets Manager');
    this.rotator.rotate(this.postgres.secret!, { database: this.postgres });
    this.rotator.rotate(this.mariadb.secret!, { database: this.mariadb, schedule: Duration.days(7) });
    this.rotator.rotate(appUser, {
      masterSecret: this.mariadb.secret,
      database: this.mariadb,
      schedule: events.Schedule.cron({ minute: '0', hour: '4', weekDay: 'SUN' }),
      window: Duration.hours(2),
    });
    this.rotator.rotate(this.aurora.secret!, { database: this.aurora });
  }
}

/** Synthesizes the example into `outdir` and returns the template's path. */
export function synthExample(outdir: string, code: lambda.Code): string {
  const app = new App({ outdir, analyticsReporting: false });
  new ExampleStack(app, 'RdsRotatorExample', { code });
  const assembly = app.synth();
  return path.join(assembly.directory, assembly.getStackByName('RdsRotatorExample').templateFile);
}

/** A directory holding a placeholder `bootstrap`, standing in for the function's zip: no binary is committed. */
export function placeholderCode(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rds-rotator-code-'));
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\necho placeholder: not the rds-rotator binary >&2\nexit 1\n', { mode: 0o755 });
  return dir;
}

if (require.main === module) {
  const [outdir, codeDir] = process.argv.slice(2);
  if (!outdir) {
    console.error('usage: node dist/test/example-app.js OUTDIR [CODE_DIR_OR_ZIP]');
    process.exit(2);
  }
  console.log(synthExample(outdir, lambda.Code.fromAsset(codeDir ?? placeholderCode())));
}
