import { optInt, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { backendSettings, loadConfig } from '../../config';
import { initBackend } from '../../core/backend';
import { InputError } from '../../errors';
import { logger } from '../../log';
import { createMetrics, startMetricsServer } from '../../metrics';
import { POOLS, type Pool } from '../../queue/names';
import { startWorker } from '../../worker/worker';
import { openPipelineRedis, poolBudgets } from '../pipeline-env';

export const command: Command = {
  name: 'work',
  summary: 'run a compute worker of the light or heavy pool until SIGTERM',
  usage: 'zcbench work --pool light|heavy [--concurrency N]   (budgets: ZC_WORKER_MEMORY_MB, ZC_HEAVY_MEMORY_MB)',
  options: [
    { name: 'pool', value: true, description: 'light (jobs within ZC_WORKER_MEMORY_MB) or heavy (the rest)' },
    { name: 'concurrency', value: true, description: 'jobs in flight (default: cores)' },
    { name: 'children', value: true, description: 'compute child processes, i.e. tensor jobs at once (default: min(concurrency, cores))' },
    { name: 'metrics-port', value: true, description: 'port of /metrics (default: METRICS_PORT; 0: any free port)' },
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    const pool = optString(args, 'pool') ?? 'light';
    if (!(POOLS as readonly string[]).includes(pool)) throw new InputError('--pool', pool, `one of ${POOLS.join(', ')}`);
    const concurrency = optInt(args, 'concurrency', 1);
    const children = optInt(args, 'children', 1);
    const config = loadConfig();
    // Shape-only jobs (params, flops) run in this process; tensor jobs in children that read the same settings.
    await initBackend(backendSettings());
    const metricsPort = optInt(args, 'metrics-port', 0) ?? config.METRICS_PORT;
    const redis = await openPipelineRedis(config);
    const metrics = createMetrics();
    const server = await startMetricsServer({ port: metricsPort, metrics }).catch((err: unknown) => {
      redis.disconnect();
      throw err;
    });
    const { lightBytes, heavyBytes } = poolBudgets(config);
    const log = logger.child({ component: 'worker', pool });
    const worker = startWorker({
      pool: pool as Pool,
      connection: redis,
      prefix: config.ZC_QUEUE_PREFIX,
      concurrency,
      children,
      lightBudgetBytes: lightBytes,
      heavyBudgetBytes: heavyBytes,
      log,
      metrics,
    });
    log.info(
      { concurrency: concurrency ?? 'cores', budgetMb: Math.round((pool === 'light' ? lightBytes : heavyBytes) / 2 ** 20), metricsPort: server.port },
      'worker started',
    );
    const report = setInterval(() => log.info({ ...worker.stats }, 'worker progress'), 10_000);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    // Graceful: BullMQ finishes the jobs in hand (their rows are written) before the children stop.
    log.info({ signal }, 'worker stopping: finishing the jobs in hand');
    clearInterval(report);
    await worker.close();
    await server.close();
    redis.disconnect();
    log.info({ ...worker.stats }, 'worker stopped');
    return 0;
  },
};
