import { optFlag, optInt, parseArgs } from '../args';
import type { Command } from '../command';
import { Aggregator } from '../../aggregator/aggregator';
import { loadConfig } from '../../config';
import { InputError } from '../../errors';
import { logger } from '../../log';
import { createMetrics, startMetricsServer } from '../../metrics';
import { resultsStreamStats } from '../../queue/results';
import { BUILD_ID_PATTERN } from '../../queue/schema';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { openPipelineRedis, openPipelineStore } from '../pipeline-env';

export const command: Command = {
  name: 'aggregate',
  summary: 'consume results, stage them in S3 and publish each complete build as a version',
  usage: 'zcbench aggregate [BUILD_ID...] [--until-published]',
  options: [
    { name: 'until-published', value: false, description: 'exit once the given builds are published (default: run until SIGTERM)' },
    { name: 'metrics-port', value: true, description: 'port of /metrics (default: METRICS_PORT; 0: any free port)' },
    {
      name: 'lock-ttl-ms',
      value: true,
      description: 'TTL of the build and publish locks (default 15000): a paused or partitioned aggregator loses its builds after it',
    },
    { name: 'flush-interval-ms', value: true, description: 'longest wait before new rows are written to a segment (default 1000)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    args.positionals.forEach((id, i) => {
      if (!BUILD_ID_PATTERN.test(id)) throw new InputError(`build id ${i + 1}`, id, 'a build id as `zcbench produce` prints it');
    });
    const untilPublished = optFlag(args, 'until-published');
    if (untilPublished && args.positionals.length === 0) throw new InputError('--until-published', true, 'needs the build ids to wait for');
    const config = loadConfig();
    const metricsPort = optInt(args, 'metrics-port', 0) ?? config.METRICS_PORT;
    const ps = await openPipelineStore(args, config);
    const redis = await openPipelineRedis(config);
    const metrics = createMetrics();
    metrics.collectResultsStreams(() => resultsStreamStats(redis, config.ZC_QUEUE_PREFIX));
    const server = await startMetricsServer({ port: metricsPort, metrics });
    const aggregator = new Aggregator({
      redis,
      prefix: config.ZC_QUEUE_PREFIX,
      store: ps.store,
      log: logger.child({ component: 'aggregator' }),
      buildIds: args.positionals.length > 0 ? args.positionals : undefined,
      untilPublished,
      lockTtlMs: optInt(args, 'lock-ttl-ms', 300),
      flushIntervalMs: optInt(args, 'flush-interval-ms', 0),
      metrics,
      onPublished: (p) =>
        process.stdout.write(`published ${p.dataset}@${p.result.version} (build ${p.buildId}, ${p.result.manifest.rowCount} rows) to ${ps.where}\n`),
    });
    const stop = () => aggregator.stop();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      await aggregator.run();
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      await server.close();
      redis.disconnect();
      await ps.close();
    }
    return 0;
  },
};
