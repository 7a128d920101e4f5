import pino from 'pino';

/**
 * The one logger. Structured JSON on stderr (stdout stays free for command output such as
 * `--json`). Components take a child logger with their bindings (e.g. the triple id).
 */
export const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));

export type Logger = pino.Logger;

/**
 * A URL as it may be printed or logged: user and password become `***` (REDIS_URL and S3
 * endpoints carry credentials). Text that does not parse as a URL is redacted by pattern, so a
 * malformed URL in an error message does not leak its password either.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '***';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@').replace(/\/\/[^/?#\s]*@/g, '//***@');
  }
}
