export { RdsRotator, RdsRotatorProps, RotateOptions } from './rds-rotator';
export { Engine, LogLevel, RotatorSettings, TlsMinimum, TlsMode } from './settings';
