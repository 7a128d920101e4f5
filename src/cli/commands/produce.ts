import { optFlag, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { loadConfig } from '../../config';
import { InputError } from '../../errors';
import { logger } from '../../log';
import { prepareBuild } from '../../aggregator/build-store';
import { readBaseVersion } from '../../producer/base';
import { dryRun, type DryRunResult } from '../../producer/dry-run';
import { produce } from '../../producer/producer';
import { withProxyModules } from '../../producer/modules';
import { loadBuildPlan } from '../../producer/spec';
import { openQueue } from '../../queue/queues';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { openPipelineRedis, openPipelineStore, poolBudgets, ProgressLine } from '../pipeline-env';

export const command: Command = {
  name: 'produce',
  summary: 'expand a build spec into (arch, task, proxy) triples and enqueue them',
  usage: 'zcbench produce --spec FILE [--build-id ID] [--one-proxy-per-job] [--dry-run] [--json]',
  options: [
    { name: 'spec', value: true, description: 'build spec, JSON or YAML (see specs/demo.json)' },
    { name: 'build-id', value: true, description: 'fixed build id (default: derived from the spec and the store)' },
    { name: 'one-proxy-per-job', value: false, description: 'one triple per queue message (default: the proxies of one (arch, task) together)' },
    { name: 'dry-run', value: false, description: 'print what would be enqueued and its memory plans; enqueue nothing (no Redis needed)' },
    { name: 'json', value: false, description: 'print the result as JSON' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    const file = optString(args, 'spec');
    if (!file) throw new InputError('--spec', undefined, 'a build spec file is required');
    const config = loadConfig();
    // Everything about the spec is checked before Redis is touched: a bad spec enqueues nothing.
    const specPlan = loadBuildPlan(file, { buildId: optString(args, 'build-id'), packing: optFlag(args, 'one-proxy-per-job') ? 'triple' : undefined });
    if (optFlag(args, 'dry-run')) {
      // No Redis, and a store only to read what the base version holds.
      const dryBase = specPlan.spec.baseVersion
        ? await readBaseVersion((await openPipelineStore(args, config)).storeOpts, specPlan.spec.dataset, specPlan.spec.baseVersion)
        : undefined;
      const result = await dryRun(await withProxyModules(specPlan), poolBudgets(config), dryBase);
      process.stdout.write(optFlag(args, 'json') ? JSON.stringify(result) + '\n' : describeDryRun(result, specPlan.spec.baseVersion));
      return 0;
    }
    const ps = await openPipelineStore(args, config);
    const base = specPlan.spec.baseVersion ? await readBaseVersion(ps.storeOpts, specPlan.spec.dataset, specPlan.spec.baseVersion) : undefined;
    const redis = await openPipelineRedis(config);
    const queue = openQueue('light', redis, config.ZC_QUEUE_PREFIX);
    const progress = new ProgressLine();
    try {
      const log = logger.child({ component: 'producer' });
      // Redis is not the record: the store says what is published and which rows exist.
      const { plan, stored } = await prepareBuild(redis, config.ZC_QUEUE_PREFIX, ps.store, specPlan, log);
      const result = await produce({
        redis,
        queue,
        plan,
        base,
        storedTripleIds: stored,
        log: log.child({ buildId: plan.buildId }),
        onProgress: (p) =>
          progress.update(
            `produce ${plan.buildId}: ${p.triplesSeen}/${p.totalTriples} triples expanded (${Math.floor((100 * p.triplesSeen) / p.totalTriples)} %), ${p.enqueued} messages enqueued`,
          ),
      });
      progress.done();
      if (optFlag(args, 'json')) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        process.stdout.write(
          `build ${result.buildId}: ${result.expected} triples to compute` +
            (result.skippedBase > 0 ? ` (${result.skippedBase} already in ${plan.spec.dataset}@${plan.spec.baseVersion})` : '') +
            `; enqueued ${result.enqueuedMessages} messages (${result.enqueuedTriples} triples)` +
            (result.alreadyEnqueued > 0 ? `, ${result.alreadyEnqueued} were already enqueued` : '') +
            (result.alreadyStored > 0 ? `, ${result.alreadyStored} triples already stored in ${ps.storeOpts.bucket}` : '') +
            '\n',
        );
      }
      return 0;
    } finally {
      await queue.close();
      redis.disconnect();
      await ps.close();
    }
  },
};

function describeDryRun(r: DryRunResult, baseVersion: string | undefined): string {
  const mib = (b: number | undefined) => (b === undefined ? '-' : `${Math.ceil(b / 2 ** 20)} MiB`);
  const lines = [
    `dry run of build ${r.buildId} (dataset ${r.dataset}): nothing enqueued`,
    `  triples: ${r.specTriples} in the spec, ${baseVersion ? `${r.heldByBase} held by ${r.dataset}@${baseVersion}` : 'no base version'}, ${r.toCompute} to compute`,
  ];
  for (const p of Object.values(r.pools)) {
    const tensor = p.messages - p.shapeOnlyMessages;
    lines.push(
      `  ${p.queue}: ${p.messages} messages (${p.triples} triples; ${p.shapeOnlyMessages} shape-only, ${tensor} tensor jobs` +
        (tensor > 0 ? `: planned peak max ${mib(p.maxPeakBytes)}, median ${mib(p.medianPeakBytes)}` : '') +
        `; budget ${mib(p.budgetBytes)} per job)`,
    );
  }
  if (r.halvedBatch > 0) lines.push(`  ${r.halvedBatch} heavy jobs fit only at half the batch size (their rows will say so)`);
  if (r.overHeavyBudget > 0) lines.push(`  ${r.overHeavyBudget} jobs exceed the heavy budget even at half the batch: they would fail as out of memory`);
  for (const t of r.byTask) lines.push(`  ${t.space}/${t.task}: ${t.triples} triples in ${t.messages} messages, largest job ${mib(t.maxPeakBytes)}`);
  lines.push('  time: not estimated (memory plans and counts only)');
  return lines.join('\n') + '\n';
}
