import { createServer, type Server } from 'http';
import type { AddressInfo } from 'net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { createHash, timingSafeEqual } from 'crypto';
import express from 'express';
import { InputError, ServiceError } from '../errors';
import { logger } from '../log';
import { connectRedis } from '../queue/connection';

/**
 * `zcbench dashboard`: Bull Board over the compute queues. Read-only by default: a person browsing
 * jobs must not be able to retry or delete work of a running build by accident.
 */
export interface DashboardOptions {
  redisUrl: string;
  /** BullMQ key prefix of the queues (ZC_QUEUE_PREFIX). */
  prefix: string;
  queueNames: readonly string[];
  port: number;
  /** Address to bind; default 127.0.0.1. Any non-loopback address requires `token`. */
  host?: string;
  /** Required from every client (bearer token, or basic auth with it as the password) when set. */
  token?: string;
  readOnly: boolean;
  /** How long to wait for Redis at start-up before failing, ms. */
  connectTimeoutMs?: number;
}

export interface Dashboard {
  host: string;
  port: number;
  /** The BullMQ queues shown; the dashboard process also reports their depth as metrics. */
  queues: readonly Queue[];
  close(): Promise<void>;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new InputError('dashboard port', opts.port, 'an integer in 0..65535');
  if (opts.queueNames.length === 0) throw new InputError('queue names', opts.queueNames, 'at least one queue');
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host) && opts.token === undefined) {
    // Bull Board has no login of its own: anyone who reaches the port sees (or, read-write, changes) every job.
    throw new InputError(
      'DASHBOARD_TOKEN',
      undefined,
      `required when the dashboard binds a non-loopback address (DASHBOARD_HOST=${host}): set a token of ≥ 16 characters, or bind 127.0.0.1`,
    );
  }

  const connection = await connectRedis(opts.redisUrl, { connectTimeoutMs: opts.connectTimeoutMs });
  connection.on('error', (err: Error) => logger.warn({ err: err.message }, 'dashboard: redis connection error'));

  const queues = opts.queueNames.map((name) => new Queue(name, { connection, prefix: opts.prefix }));
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/');
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: opts.readOnly, allowRetries: !opts.readOnly })),
    // @bull-board/express pins an older @bull-board/api than ours: same shapes, separate declarations.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'zcbench' } },
  });

  const app = express();
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  if (opts.token !== undefined) app.use(requireToken(opts.token));
  app.use('/', serverAdapter.getRouter() as express.Router);

  const server: Server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ServiceError(`cannot serve the dashboard on ${host}:${opts.port}: ${err.code ?? err.message}`)),
      );
      server.listen(opts.port, host, () => resolve());
    });
  } catch (err) {
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port, readOnly: opts.readOnly, token: opts.token !== undefined, queues: opts.queueNames }, 'dashboard: serving Bull Board');

  return {
    host,
    port,
    queues,
    async close() {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await Promise.all(queues.map((q) => q.close()));
      await connection.quit();
    },
  };
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

/** Every request but the health check must present the token (bearer, or basic auth's password). */
function requireToken(token: string): express.RequestHandler {
  return (req, res, next) => {
    const given = presentedToken(req.headers.authorization);
    if (given !== undefined && sameSecret(given, token)) return next();
    res.status(401).set('WWW-Authenticate', 'Basic realm="zcbench dashboard", charset="UTF-8"').type('text/plain').send('token required\n');
  };
}

function presentedToken(header: string | undefined): string | undefined {
  const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  if (m[1]!.toLowerCase() === 'bearer') return m[2];
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/** Constant-time comparison: hashing first makes the lengths equal, so neither time nor length leaks. */
function sameSecret(given: string, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(token));
}
