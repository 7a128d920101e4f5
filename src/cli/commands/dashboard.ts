import { parseArgs } from '../args';
import type { Command } from '../command';
import { loadConfig } from '../../config';
import { startDashboard } from '../../dashboard';
import { InputError } from '../../errors';
import { logger } from '../../log';
import { createMetrics, startMetricsServer } from '../../metrics';
import { QUEUE_NAMES } from '../../queue/names';

export const command: Command = {
  name: 'dashboard',
  summary: 'serve Bull Board for the compute queues, and their depth as metrics',
  usage: 'zcbench dashboard   (address, port, token, read-only mode, Redis: DASHBOARD_HOST, DASHBOARD_PORT, DASHBOARD_TOKEN, DASHBOARD_READ_ONLY, REDIS_URL)',
  options: [],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length > 0) throw new InputError('argument', args.positionals[0], 'none: configure by environment');
    const config = loadConfig();

    const dashboard = await startDashboard({
      redisUrl: config.REDIS_URL,
      prefix: config.ZC_QUEUE_PREFIX,
      queueNames: Object.values(QUEUE_NAMES),
      host: config.DASHBOARD_HOST,
      port: config.DASHBOARD_PORT,
      token: config.DASHBOARD_TOKEN,
      readOnly: config.DASHBOARD_READ_ONLY,
    });
    // The dashboard is the one always-on process that sees the queues: it reports their depth, which
    // the workers' autoscaler reads even when every worker is scaled to zero.
    const metrics = createMetrics();
    metrics.collectQueueDepths(dashboard.queues);
    let metricsServer;
    try {
      metricsServer = await startMetricsServer({ port: config.METRICS_PORT, metrics });
    } catch (err) {
      await dashboard.close();
      throw err;
    }
    process.stdout.write(
      `dashboard: http://${urlHost(dashboard.host)}:${dashboard.port}/ (${config.DASHBOARD_READ_ONLY ? 'read-only' : 'read-write'}${config.DASHBOARD_TOKEN ? ', token required' : ''}); ` +
        `metrics: http://localhost:${metricsServer.port}/metrics\n`,
    );

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    logger.info({ signal }, 'dashboard: stopping');
    await metricsServer.close();
    await dashboard.close();
    return 0;
  },
};

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
