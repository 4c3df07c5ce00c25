import { pino, type Logger } from 'pino';

/** Paths removed from every log line; secrets never reach the output. Child loggers with their own `redact` start from this list. */
export const redactedPaths = [
  'password',
  '*.password',
  '*.*.password',
  'pass',
  '*.pass',
  'auth.pass',
  '*.auth.pass',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'accessToken',
  'refreshToken',
  '*.accessToken',
  '*.refreshToken',
  'clientSecret',
  '*.clientSecret',
  'MAILQUEUE_SECRET_KEY',
];

/** The process-wide root logger. LOG_LEVEL sets the level (default `info`). */
export const logger: Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  redact: { paths: redactedPaths, censor: '[redacted]' },
  base: { service: 'mailqueue' },
});

export function childLogger(bindings: Record<string, unknown>): Logger {
  return logger.child(bindings);
}
