// The agent's path to the shared logger (lib/logger.ts): kept so the daemon's rooms import it from
// their own lib/ as before.
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel, type LoggerOptions } from '../../../lib/index.ts';
