// What the tests share: a stack, the placeholder code, the rotator's policy statements, and what template.yaml and
// src/config.rs say, read from the repository so that the construct is held to them rather than to a copy.
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { placeholderCode } from './example-app';

export const REPO = path.resolve(__dirname, '..', '..', '..');

let codeDir: string | undefined;
/** The function's code: a directory with a placeholder `bootstrap`, made once per test process. */
export function code(): lambda.Code {
  codeDir ??= placeholderCode();
  return lambda.Code.fromAsset(codeDir);
}

export function newStack(id = 'Test'): Stack {
  return new Stack(new App({ analyticsReporting: false }), id);
}

/** The one resource of `type`, by logical id. */
export function only(template: Template, type: string): [string, any] {
  const found = Object.entries(template.findResources(type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** The statements of the rotator's policy, by Sid. */
export function statements(template: Template): Record<string, any> {
  const [, policy] = only(template, 'AWS::IAM::Policy');
  return Object.fromEntries(policy.Properties.PolicyDocument.Statement.map((s: any) => [s.Sid, s]));
}

export function environment(template: Template): Record<string, any> {
  const [, fn] = only(template, 'AWS::Lambda::Function');
  return fn.Properties.Environment.Variables;
}

/** Every environment variable src/config.rs and src/logging.rs name. */
export function configVariables(): Set<string> {
  const sources = ['config.rs', 'logging.rs'].map((f) => fs.readFileSync(path.join(REPO, 'src', f), 'utf8')).join('');
  return new Set([...sources.matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)].map((m) => m[1]));
}

/** template.yaml, read as text: its parameters' defaults, the function's variables, the dashboard's widget titles. */
export interface SamTemplate {
  readonly defaults: Record<string, string>;
  /** Variable → the parameter it is set from (`!Ref P`, or `!If [C, !Ref P, !Ref AWS::NoValue]`: `?P`), or a literal. */
  readonly variables: Record<string, string>;
  readonly widgetTitles: string[];
}

export function samTemplate(): SamTemplate {
  const text = fs.readFileSync(path.join(REPO, 'template.yaml'), 'utf8');
  const defaults: Record<string, string> = {};
  const params = text.slice(text.indexOf('\nParameters:'), text.indexOf('\nConditions:'));
  let current: string | undefined;
  for (const line of params.split('\n')) {
    const name = /^ {2}(\w+):\s*$/.exec(line);
    if (name) current = name[1];
    const value = /^ {4}Default:\s*(.*)$/.exec(line);
    if (value && current) defaults[current] = value[1].replace(/^"(.*)"$/, '$1');
  }
  const variables: Record<string, string> = {};
  const block = text.slice(text.indexOf('        Variables:'), text.indexOf('\n  # Its own log group'));
  for (const line of block.split('\n')) {
    const m = /^ {10}([A-Z_]+): (.*)$/.exec(line);
    if (!m) continue;
    const ref = /^!Ref (\w+)$/.exec(m[2]);
    const conditional = /^!If \[\w+, !(?:Ref|Join \[",", !Ref) (\w+)\]?, !Ref AWS::NoValue\]$/.exec(m[2]);
    // A multi-line `!If` (its branches on the lines below) picks between an rds-rotator parameter and AWS's SAR name
    // for it, else `AWS::NoValue`: set only when one of them is given.
    const multiLine = m[2] === '!If';
    variables[m[1]] = ref ? ref[1] : conditional ? `?${conditional[1]}` : multiLine ? '?' : m[2];
  }
  const dashboard = text.slice(text.indexOf('  RotationDashboard:'), text.indexOf('\nOutputs:'));
  const widgetTitles = [...dashboard.matchAll(/"title": "([^"]+)"/g)].map((m) => m[1]);
  return { defaults, variables, widgetTitles };
}
