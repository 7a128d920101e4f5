import { createServer, type Server } from 'http';
import type { AddressInfo } from 'net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
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
  host?: string;
  readOnly: boolean;
  /** How long to wait for Redis at start-up before failing, ms. */
  connectTimeoutMs?: number;
}

export interface Dashboard {
  port: number;
  /** The BullMQ queues shown; the dashboard process also reports their depth as metrics. */
  queues: readonly Queue[];
  close(): Promise<void>;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new InputError('dashboard port', opts.port, 'an integer in 0..65535');
  if (opts.queueNames.length === 0) throw new InputError('queue names', opts.queueNames, 'at least one queue');

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
  app.use('/', serverAdapter.getRouter() as express.Router);

  const server: Server = createServer(app);
  const host = opts.host ?? '0.0.0.0';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ServiceError(`cannot serve the dashboard on ${host}:${opts.port}: ${err.code ?? err.message}`)));
      server.listen(opts.port, host, () => resolve());
    });
  } catch (err) {
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, readOnly: opts.readOnly, queues: opts.queueNames }, 'dashboard: serving Bull Board');

  return {
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
