// The function's environment, from the construct's props: the same variables, defaults and bounds as template.yaml's
// parameters (src/config.rs reads them; docs/configuration.md describes each).
import { Duration, Token } from 'aws-cdk-lib';

/** TLS of application logins for secrets without an `ssl` key (`DB_TLS_MODE`), or of master logins (`MASTER_TLS_MODE`). */
export type TlsMode = 'verify-full' | 'require' | 'prefer' | 'disable';
/** The floor under every application login (`DB_TLS_MINIMUM`). */
export type TlsMinimum = 'disable' | 'require' | 'verify-full';
/** An engine of the secrets' `engine` key. */
export type Engine = 'postgres' | 'aurora-postgresql' | 'mysql' | 'aurora-mysql' | 'mariadb';
/** Lambda's application log level (template.yaml's `LogLevel`). */
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

/** The settings that become environment variables. Every one is optional; the defaults are template.yaml's. */
export interface RotatorSettings {
  /** `PASSWORD_LENGTH`: 1 to 4096 (8 to 41 for the MySQL family). @default 32 */
  readonly passwordLength?: number;
  /**
   * `EXCLUDE_CHARACTERS`: characters never used in passwords. Unlike template.yaml, an empty string is passed on and
   * means "none beyond the always-excluded ones".
   * @default - the engine's default, AWS's templates' (PostgreSQL ``:/@"'\``, MySQL family ``/@"'\``)
   */
  readonly excludeCharacters?: string;
  /** `EXCLUDE_NUMBERS`. @default false */
  readonly excludeNumbers?: boolean;
  /** `EXCLUDE_PUNCTUATION`. @default false */
  readonly excludePunctuation?: boolean;
  /** `EXCLUDE_UPPERCASE`. @default false */
  readonly excludeUppercase?: boolean;
  /** `EXCLUDE_LOWERCASE`. @default false */
  readonly excludeLowercase?: boolean;
  /** `REQUIRE_EACH_INCLUDED_TYPE`. @default true */
  readonly requireEachIncludedType?: boolean;
  /** `DEFAULT_ENGINE`: engine of secrets without an `engine` key. @default - such secrets are refused */
  readonly defaultEngine?: Engine;
  /** `USERNAME_CHARACTER_LIMIT`: longest MySQL-family user name, 1 to 128. @default - 32 (MySQL), 80 (MariaDB) */
  readonly usernameCharacterLimit?: number;
  /** `DB_TLS_MODE`. @default 'verify-full' */
  readonly dbTlsMode?: TlsMode;
  /** `DB_TLS_MINIMUM`. @default 'disable' (a secret's `"ssl": false` allows plaintext, as with AWS's templates) */
  readonly dbTlsMinimum?: TlsMinimum;
  /** `MASTER_TLS_MODE`. @default 'verify-full' */
  readonly masterTlsMode?: TlsMode;
  /** `DB_EXTRA_CA_BUNDLE`: path inside the function (a layer's file under /opt) of extra trusted CAs. @default - none */
  readonly dbExtraCaBundle?: string;
  /** `SECRETS_MANAGER_ENDPOINT`, e.g. a VPC interface endpoint's URL. @default - the Region's */
  readonly secretsManagerEndpoint?: string;
  /** `RDS_ENDPOINT`, e.g. a VPC interface endpoint's URL. @default - the Region's */
  readonly rdsEndpoint?: string;
  /** `CONNECT_TIMEOUT_SECONDS`: 1 to 10 s, so that a step's logins fit in the 150 s timeout. @default 5 s */
  readonly connectTimeout?: Duration;
  /** `STATEMENT_TIMEOUT_SECONDS`: 1 to 30 s. @default 10 s */
  readonly statementTimeout?: Duration;
  /** `PROPAGATION_TIMEOUT_SECONDS`: 1 to 60 s, within the 150 s timeout. @default 30 s */
  readonly propagationTimeout?: Duration;
  /**
   * `BREAK_GLASS_MASTER_RESET` and `BREAK_GLASS_DB_IDENTIFIERS`: ARNs of the DB instances (`arn:…:db:ID`) and clusters
   * (`arn:…:cluster:ID`) whose master password break-glass may reset; the role may modify these and no other.
   * @default - no break-glass
   */
  readonly breakGlassDbArns?: string[];
  /** `METRICS_NAMESPACE`: namespace of the per-step metrics; empty for none. @default 'rds-rotator' */
  readonly metricsNamespace?: string;
}

export const DEFAULT_METRICS_NAMESPACE = 'rds-rotator';
const TLS_MODES = ['verify-full', 'require', 'prefer', 'disable'];
const TLS_MINIMUMS = ['disable', 'require', 'verify-full'];
const ENGINES = ['postgres', 'aurora-postgresql', 'mysql', 'aurora-mysql', 'mariadb'];

/** The environment variables, in template.yaml's order; every name is one src/config.rs reads. */
export function environment(settings: RotatorSettings): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  set('PASSWORD_LENGTH', String(whole('passwordLength', settings.passwordLength, 1, 4096) ?? 32));
  set('EXCLUDE_CHARACTERS', settings.excludeCharacters);
  set('EXCLUDE_NUMBERS', String(settings.excludeNumbers ?? false));
  set('EXCLUDE_PUNCTUATION', String(settings.excludePunctuation ?? false));
  set('EXCLUDE_UPPERCASE', String(settings.excludeUppercase ?? false));
  set('EXCLUDE_LOWERCASE', String(settings.excludeLowercase ?? false));
  set('REQUIRE_EACH_INCLUDED_TYPE', String(settings.requireEachIncludedType ?? true));
  set('DEFAULT_ENGINE', oneOf('defaultEngine', settings.defaultEngine, ENGINES));
  const limit = whole('usernameCharacterLimit', settings.usernameCharacterLimit, 1, 128);
  set('USERNAME_CHARACTER_LIMIT', limit === undefined ? undefined : String(limit));
  set('SECRETS_MANAGER_ENDPOINT', url('secretsManagerEndpoint', settings.secretsManagerEndpoint));
  set('DB_TLS_MODE', oneOf('dbTlsMode', settings.dbTlsMode, TLS_MODES) ?? 'verify-full');
  set('DB_TLS_MINIMUM', oneOf('dbTlsMinimum', settings.dbTlsMinimum, TLS_MINIMUMS) ?? 'disable');
  set('MASTER_TLS_MODE', oneOf('masterTlsMode', settings.masterTlsMode, TLS_MODES) ?? 'verify-full');
  set('DB_EXTRA_CA_BUNDLE', settings.dbExtraCaBundle || undefined);
  set('CONNECT_TIMEOUT_SECONDS', seconds('connectTimeout', settings.connectTimeout, 10, 5));
  set('STATEMENT_TIMEOUT_SECONDS', seconds('statementTimeout', settings.statementTimeout, 30, 10));
  set('METRICS_NAMESPACE', metricsNamespace(settings.metricsNamespace));
  set('RDS_ENDPOINT', url('rdsEndpoint', settings.rdsEndpoint));
  set('PROPAGATION_TIMEOUT_SECONDS', seconds('propagationTimeout', settings.propagationTimeout, 60, 30));
  // MASTER_SECRET_ARNS is added by the construct, lazily, from every master secret it is given.
  const breakGlass = breakGlassArns(settings.breakGlassDbArns);
  set('BREAK_GLASS_MASTER_RESET', String(breakGlass.length > 0));
  set('BREAK_GLASS_DB_IDENTIFIERS', breakGlass.length > 0 ? breakGlass.join(',') : undefined);
  return env;
}

export function metricsNamespace(namespace: string | undefined): string {
  const value = namespace ?? DEFAULT_METRICS_NAMESPACE;
  // The dashboard puts it inside JSON strings and search expressions, which a quote or backslash would end.
  if (!Token.isUnresolved(value) && (value.length > 255 || /["'\\]/.test(value))) {
    throw new Error(`metricsNamespace ${JSON.stringify(value)}: at most 255 characters, without quotes or backslashes`);
  }
  return value;
}

export function breakGlassArns(arns: string[] | undefined): string[] {
  for (const arn of arns ?? []) {
    if (!Token.isUnresolved(arn) && !/^arn:[^:]+:rds:[^:]*:[^:]*:(db|cluster):[^:*]+$/.test(arn)) {
      throw new Error(`breakGlassDbArns: ${JSON.stringify(arn)} is not the ARN of one DB instance (…:db:ID) or cluster (…:cluster:ID)`);
    }
  }
  return arns ?? [];
}

function whole(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined || Token.isUnresolved(value)) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} is ${value}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

function oneOf(name: string, value: string | undefined, allowed: string[]): string | undefined {
  if (value !== undefined && !Token.isUnresolved(value) && !allowed.includes(value)) {
    throw new Error(`${name} is ${JSON.stringify(value)}: expected one of ${allowed.join(', ')}`);
  }
  return value;
}

function url(name: string, value: string | undefined): string | undefined {
  if (value && !Token.isUnresolved(value) && !/^https?:\/\//.test(value)) {
    throw new Error(`${name} is ${JSON.stringify(value)}: expected a URL starting with https://`);
  }
  return value || undefined;
}

/** The bounds are template.yaml's, which keep a step's logins and waits inside the function's 150 s timeout. */
function seconds(name: string, value: Duration | undefined, max: number, fallback: number): string {
  if (value === undefined) return String(fallback);
  const secs = value.toSeconds();
  if (!Token.isUnresolved(secs) && (!Number.isInteger(secs) || secs < 1 || secs > max)) {
    throw new Error(`${name} is ${value.toHumanString()}: expected whole seconds from 1 to ${max}`);
  }
  return String(secs);
}
