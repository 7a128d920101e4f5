import { optFlag, optInt, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { Aggregator } from '../../aggregator/aggregator';
import { backendSettings, loadConfig } from '../../config';
import { initBackend } from '../../core/backend';
import { InputError } from '../../errors';
import { logger, redactUrl } from '../../log';
import { prepareBuild } from '../../aggregator/build-store';
import { readBaseVersion } from '../../producer/base';
import { produce } from '../../producer/producer';
import { loadBuildPlan } from '../../producer/spec';
import { readBuild } from '../../queue/build';
import { openQueue } from '../../queue/queues';
import { buildStatus } from '../../queue/status';
import type { Manifest } from '../../storage/manifest';
import { datasetKeys } from '../../storage/manifest';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { resolveVersion } from '../../storage/versions';
import { startWorker, type PipelineWorker } from '../../worker/worker';
import { formatDuration, openPipelineRedis, openPipelineStore, poolBudgets, ProgressLine } from '../pipeline-env';

export const command: Command = {
  name: 'run',
  summary: 'build a dataset end to end: producer, workers and aggregator in one process',
  usage: 'zcbench run --spec FILE [--workers N] [--concurrency N]   (Redis: REDIS_URL; S3: S3_ENDPOINT, else an embedded s3rver under ZC_HOME)',
  options: [
    { name: 'spec', value: true, description: 'build spec, JSON or YAML (see specs/demo.json)' },
    { name: 'build-id', value: true, description: 'fixed build id (default: derived from the spec and the store)' },
    { name: 'one-proxy-per-job', value: false, description: 'one triple per queue message' },
    { name: 'workers', value: true, description: 'light-pool workers (default 2); one heavy-pool worker runs besides' },
    { name: 'concurrency', value: true, description: 'compute children per worker (default 1)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    const file = optString(args, 'spec');
    if (!file) throw new InputError('--spec', undefined, 'a build spec file is required');
    const workers = optInt(args, 'workers', 1) ?? 2;
    const concurrency = optInt(args, 'concurrency', 1) ?? 1;
    const config = loadConfig();
    const specPlan = loadBuildPlan(file, { buildId: optString(args, 'build-id'), packing: optFlag(args, 'one-proxy-per-job') ? 'triple' : undefined });
    // The progress line tells the story; components log only when LOG_LEVEL asks (cli/main.ts).
    const log = logger.child({ component: 'run' });

    const redis = await openPipelineRedis(config);
    const ps = await openPipelineStore(args, config, { embedded: true }).catch((err: unknown) => {
      redis.disconnect();
      throw err;
    });
    const progress = new ProgressLine();
    const running: PipelineWorker[] = [];
    let aggregator: Aggregator | undefined;
    const interrupt = () => aggregator?.stop();
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    try {
      // Redis is not the record: the store says what is published and which rows exist.
      const { plan, stored } = await prepareBuild(redis, config.ZC_QUEUE_PREFIX, ps.store, specPlan, log);
      process.stderr.write(`run ${plan.buildId}: ${plan.totalTriples} triples; Redis ${redactUrl(config.REDIS_URL)}; store: ${ps.where}\n`);
      const base = plan.spec.baseVersion ? await readBaseVersion(ps.storeOpts, plan.spec.dataset, plan.spec.baseVersion) : undefined;
      const queue = openQueue('light', redis, config.ZC_QUEUE_PREFIX);
      const produced = await produce({
        redis,
        queue,
        plan,
        base,
        storedTripleIds: stored,
        log: log.child({ component: 'producer' }),
        onProgress: (p) => progress.update(`produce: ${p.triplesSeen}/${p.totalTriples} triples expanded, ${p.enqueued} messages enqueued`),
      }).finally(() => queue.close());
      progress.done(
        `produce: ${produced.expected} triples to compute` +
          (produced.skippedBase > 0 ? ` (${produced.skippedBase} held by ${plan.spec.dataset}@${plan.spec.baseVersion})` : '') +
          `, ${produced.enqueuedMessages} messages enqueued` +
          (produced.alreadyEnqueued > 0 ? `, ${produced.alreadyEnqueued} already enqueued earlier` : '') +
          (produced.alreadyStored > 0 ? `, ${produced.alreadyStored} already stored` : ''),
      );

      // Shape-only jobs (params, flops) run in this process; tensor jobs in children that read the same settings.
      await initBackend(backendSettings());
      const { lightBytes, heavyBytes } = poolBudgets(config);
      // Workers read user proxy modules' bundles from the run's store (the embedded one, when it is).
      const common = { connection: redis, prefix: config.ZC_QUEUE_PREFIX, lightBudgetBytes: lightBytes, heavyBudgetBytes: heavyBytes, store: ps.store };
      for (let i = 0; i < workers; i++)
        running.push(startWorker({ ...common, pool: 'light', concurrency, log: log.child({ component: 'worker', pool: 'light', worker: i }) }));
      running.push(startWorker({ ...common, pool: 'heavy', concurrency: 1, log: log.child({ component: 'worker', pool: 'heavy' }) }));

      aggregator = new Aggregator({
        redis,
        prefix: config.ZC_QUEUE_PREFIX,
        store: ps.store,
        log: log.child({ component: 'aggregator' }),
        buildIds: [plan.buildId],
        untilPublished: true,
      });
      const started = Date.now();
      const ticker = setInterval(() => {
        buildStatus(redis, config.ZC_QUEUE_PREFIX, plan.buildId).then(
          (s) => {
            const done = Math.max(s.ok + s.failed, s.aggregated);
            const expected = s.expected ?? plan.totalTriples;
            const pct = expected > 0 ? Math.floor((100 * Math.min(done, expected)) / expected) : 100;
            const rate = s.triplesPerSecond !== undefined ? `${s.triplesPerSecond.toFixed(1)} triples/s` : 'starting';
            const eta = s.etaSeconds !== undefined ? `, ETA ${formatDuration(s.etaSeconds)}` : '';
            progress.update(
              `compute: ${Math.min(done, expected)}/${expected} triples (${pct} %), ${s.failed} failed, ${rate}${eta}, elapsed ${formatDuration((Date.now() - started) / 1000)}`,
            );
          },
          () => undefined,
        );
      }, 500);
      let published;
      try {
        published = await aggregator.run();
      } finally {
        clearInterval(ticker);
      }
      progress.done();
      const record = await readBuild(redis, config.ZC_QUEUE_PREFIX, plan.buildId);
      const version = published[0]?.result.version ?? record.version;
      if (!version) {
        process.stderr.write(`run ${plan.buildId}: interrupted before publishing; rerun the same command to continue (nothing computed is lost)\n`);
        return 130;
      }
      const resolved = await resolveVersion(ps.store, plan.spec.dataset, version);
      process.stdout.write(summary(resolved.manifest, ps.storeOpts.bucket, ps.where, published.length === 0));
      if (ps.embedded) {
        // The embedded server stops with this command; its folder keeps the data, and every
        // dataset command started with the same ZC_HOME (and no S3_ENDPOINT) serves it again.
        process.stdout.write(`  read it: npx zcbench ls --dataset ${plan.spec.dataset}   (same ZC_HOME, no S3_ENDPOINT)\n`);
      }
      return 0;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      await Promise.all(running.map((w) => w.close()));
      redis.disconnect();
      await ps.close();
    }
  },
};

/** The published version, its coverage and provenance, and where it is. */
function summary(m: Manifest, bucket: string, where: string, earlier: boolean): string {
  const lines = [
    `published ${m.dataset}@${m.version}${earlier ? ' (by an earlier run of this build)' : ''}: ${m.rowCount} rows${m.parentVersion ? `, on top of ${m.parentVersion}` : ''}`,
  ];
  const byTask = new Map<string, { proxies: number; ok: number; failed: number; expected: number }>();
  for (const c of m.coverage) {
    const k = `${c.space}/${c.task}`;
    const t = byTask.get(k) ?? { proxies: 0, ok: 0, failed: 0, expected: 0 };
    t.proxies++;
    t.ok += c.ok;
    t.failed += c.failed;
    t.expected += c.expected;
    byTask.set(k, t);
  }
  for (const [k, t] of byTask) {
    const pct = t.expected > 0 ? ((100 * t.ok) / t.expected).toFixed(1) : '100.0';
    lines.push(`  coverage ${k}: ${t.proxies} proxies, ${t.ok}/${t.expected} triples ok (${pct} %)${t.failed > 0 ? `, ${t.failed} failed` : ''}`);
  }
  lines.push(`  data: ${m.dataSources.map((d) => `${d.source}${d.sha256 ? ` (sha256 ${d.sha256.slice(0, 12)}…)` : ''}`).join(', ') || 'none'}`);
  lines.push(
    `  backends: ${m.backends.join(', ')}; batch sizes: ${m.batchSizes.join(', ')}; seeds: ${m.seeds.join(', ')}; fingerprint ${m.fingerprint ?? m.codeVersion}`,
  );
  if (m.modules?.length) lines.push(`  proxy modules: ${m.modules.map((x) => `${x.name} (${x.file}, sha256 ${x.sha256.slice(0, 12)}…)`).join(', ')}`);
  lines.push(`  files: ${Object.keys(m.files).join(', ')}`);
  lines.push(`  manifest: s3://${bucket}/${datasetKeys.manifest(m.dataset, m.version)}`);
  lines.push(`  store: ${where}`);
  return lines.join('\n') + '\n';
}
