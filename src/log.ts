import pino from 'pino';

/**
 * The one logger. Structured JSON on stderr (stdout stays free for command output such as
 * `--json`). Components take a child logger with their bindings (e.g. the triple id).
 */
export const logger = pino(
  { level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: true }),
);

export type Logger = pino.Logger;
