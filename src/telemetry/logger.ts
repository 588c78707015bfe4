// The one pino logger setup: structured lines on stderr, secrets redacted here by key (paths) and by value (redact.ts).
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { redactText } from './redact.js';

export type { Logger };

/** Keys whose values never reach a log line, at any depth we log. */
export const REDACT_PATHS = [
  'client_secret',
  'secret_key',
  'access_key',
  'app_key',
  'token',
  'password',
  'authorization',
  'Authorization',
  'access_token',
  '*.client_secret',
  '*.secret_key',
  '*.access_key',
  '*.app_key',
  '*.token',
  '*.password',
  '*.authorization',
  '*.Authorization',
  '*.access_token',
  'headers.authorization',
  'headers.Authorization',
  'config.accounts[*].client_secret',
  'config.accounts[*].secret_key',
  'config.accounts[*].access_key',
  'config.accounts[*].app_key',
  'config.sinks[*].token',
  'config.sinks[*].password',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** File descriptor to write to; 2 (stderr) by default so stdout stays free for data. */
  fd?: number;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'mimecast-collector',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // By value, on the finished line: a secret echoed inside an error text (an API reply quoting the request)
      // has no key the paths above could name. Only what is written is scanned, so lines below the level cost nothing.
      hooks: { streamWrite: redactText },
    },
    pino.destination({ fd: options.fd ?? 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
