import { optFlag, parseArgs } from '../args';
import type { Command } from '../command';
import { loadConfig } from '../../config';
import { NotFoundError } from '../../errors';
import { allBuildStatus, JOB_STATES, queueStatus } from '../../queue/status';
import { formatDuration, openPipelineRedis } from '../pipeline-env';

export const command: Command = {
  name: 'status',
  summary: 'queue depths by state, build progress, throughput, ETA and failures by reason',
  usage: 'zcbench status [BUILD_ID...] [--json]',
  options: [{ name: 'json', value: false, description: 'print as JSON' }],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    const config = loadConfig();
    const redis = await openPipelineRedis(config);
    try {
      const queues = await queueStatus(redis, config.ZC_QUEUE_PREFIX);
      const builds = await allBuildStatus(redis, config.ZC_QUEUE_PREFIX, args.positionals.length > 0 ? args.positionals : undefined);
      const missing = args.positionals.filter((id) => !builds.some((b) => b.buildId === id));
      if (missing.length > 0) throw new NotFoundError(`build ${missing.map((id) => JSON.stringify(id)).join(', ')} not found in Redis`);
      if (optFlag(args, 'json')) {
        process.stdout.write(JSON.stringify({ queues, builds }, null, 2) + '\n');
        return 0;
      }
      const out: string[] = ['queues:'];
      out.push(`  ${'queue'.padEnd(10)}${JOB_STATES.map((s) => s.padStart(12)).join('')}${'jobs/s'.padStart(10)}`);
      for (const q of queues) {
        out.push(
          `  ${q.queue.padEnd(10)}${JOB_STATES.map((s) => String(q.counts[s] ?? 0).padStart(12)).join('')}${q.completedPerSecond.toFixed(1).padStart(10)}`,
        );
        for (const [reason, n] of Object.entries(q.failedByReason)) out.push(`    failed job: ${n} × ${reason}`);
      }
      out.push('builds:');
      if (builds.length === 0) out.push('  none');
      for (const b of builds) {
        const done = b.ok + b.failed;
        const pct = b.expected ? ` (${Math.min(100, Math.floor((100 * Math.max(done, b.aggregated)) / b.expected))} %)` : '';
        const rate = b.triplesPerSecond !== undefined ? `, ${b.triplesPerSecond.toFixed(1)} triples/s` : '';
        const eta =
          b.state === 'published'
            ? `, published as ${b.dataset}@${b.version}`
            : b.state === 'cancelled'
              ? ', cancelled: it will not be published'
              : b.etaSeconds !== undefined
                ? `, ETA ${formatDuration(b.etaSeconds)}`
                : '';
        out.push(
          `  ${b.buildId} [${b.state}]: ${done}/${b.expected ?? '?'} triples${pct}: ${b.ok} ok, ${b.failed} failed; ${b.aggregated} aggregated${b.rejectedEntries > 0 ? ` (${b.rejectedEntries} result entries rejected)` : ''}${rate}${eta}; fingerprint ${b.fingerprint}`,
        );
        for (const [reason, n] of Object.entries(b.failuresByReason)) out.push(`    failed: ${n} × ${reason}`);
      }
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    } finally {
      redis.disconnect();
    }
  },
};
