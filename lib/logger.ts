// Structured JSON logging for the daemon, the gateway and their CLIs: one line per event, secrets redacted by key.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

// Any field with one of these names is replaced before the line is written, at any depth we log.
const SECRET_FIELDS = [
  'virtual_key', 'virtualKey', 'token', 'device_token', 'admin_token', 'authorization', 'password', 'secret', 'api_key',
  'apiKey', 'private_key', 'privateKey', 'key_pem', 'cookie',
];
const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `headers["${f}"]`, `*.headers["${f}"]`])
  .concat(['*.headers["x-api-key"]', '*.headers["x-goog-api-key"]', '*.headers["x-bf-vk"]', '*.headers["api-key"]']);

export interface LoggerOptions {
  level?: LogLevel;
  name?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = {
    level: options.level ?? 'info',
    name: options.name ?? 'heimdall',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts, pino.destination({ dest: 1, sync: true }));
}

/** A logger that writes nothing, for library callers and tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
