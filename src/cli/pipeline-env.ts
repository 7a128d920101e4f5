import type { Redis } from 'ioredis';
import { totalmem } from 'os';
import type { Config } from '../config';
import { connectRedis } from '../queue/connection';
import type { ParsedArgs } from './args';
import { openCommandStore, type CommandStore } from './store-env';

/**
 * What the pipeline commands (produce, work, aggregate, run, status) share: Redis, the dataset
 * store (or the embedded one), budgets, and a progress line.
 */
export function openPipelineRedis(config: Config): Promise<Redis> {
  return connectRedis(config.REDIS_URL);
}

export type PipelineStore = CommandStore;

/**
 * The store of a pipeline command. `embedded` (run, a command for people): the embedded store when
 * no endpoint is set, and an explicit one probed first. Without it (produce, aggregate: services),
 * no endpoint means AWS, and a store that is still starting is waited out (S3_RETRY_DEADLINE_MS).
 */
export function openPipelineStore(args: ParsedArgs, config: Config, opts: { embedded?: boolean } = {}): Promise<PipelineStore> {
  const forPeople = opts.embedded ?? false;
  return openCommandStore(args, config, { embedded: forPeople, probe: forPeople });
}

/** Memory budgets of the two pools, bytes (ZC_WORKER_MEMORY_MB; ZC_HEAVY_MEMORY_MB or 80 % of this machine). */
export function poolBudgets(config: Config): { lightBytes: number; heavyBytes: number } {
  const total = totalmem();
  return {
    lightBytes: config.ZC_WORKER_MEMORY_MB * 2 ** 20,
    heavyBytes: config.ZC_HEAVY_MEMORY_MB !== undefined ? config.ZC_HEAVY_MEMORY_MB * 2 ** 20 : Math.floor(total * 0.8),
  };
}

/** One progress line on stderr: rewritten in place on a terminal, else printed every few seconds. */
export class ProgressLine {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;

  update(text: string, force = false): void {
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
    } else if (force || Date.now() - this.last >= 5000) {
      this.last = Date.now();
      process.stderr.write(text + '\n');
    }
  }

  done(text?: string): void {
    if (text !== undefined) this.update(text, true);
    if (this.tty) process.stderr.write('\n');
  }
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}
