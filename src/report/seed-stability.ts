import type { ColumnName, SpaceName, TaskName } from '../core/names';
import type { Dataset } from '../storage/dataset';
import { spearman } from './stats';

/** How consistently a proxy ranks the architectures of a (space, task) from one seed to another. */
export interface SeedStability {
  space: SpaceName;
  task: TaskName;
  proxy: ColumnName;
  seeds: number[];
  /** Largest number of architectures two seeds have in common. */
  archs: number;
  /** Seed pairs with a defined Spearman (≥ 3 common architectures). */
  pairs: number;
  /** Mean over those pairs of Spearman between the two seeds' scores; NaN with none. */
  spearman: number;
}

export const SEED_STABILITY_HEADER = ['space', 'task', 'proxy', 'seeds', 'architectures', 'seed_pairs', 'mean_spearman'];

/** Every (space, task, proxy) with architectures computed under two seeds or more. */
export function seedStability(ds: Pick<Dataset, 'spaces' | 'tasks' | 'proxies' | 'archs' | 'seedScores'>): SeedStability[] {
  const out: SeedStability[] = [];
  for (const space of ds.spaces()) {
    for (const task of ds.tasks(space)) {
      for (const proxy of ds.proxies(space, task)) {
        const row = proxyStability(ds, space, task, proxy);
        if (row) out.push(row);
      }
    }
  }
  return out;
}

function proxyStability(ds: Pick<Dataset, 'archs' | 'seedScores'>, space: SpaceName, task: TaskName, proxy: ColumnName): SeedStability | undefined {
  const bySeed = new Map<number, Map<string, number>>();
  for (const arch of ds.archs(space, task)) {
    const s = ds.seedScores(space, task, arch, proxy);
    s?.seeds.forEach((seed, i) => {
      let scores = bySeed.get(seed);
      if (!scores) bySeed.set(seed, (scores = new Map()));
      scores.set(arch, s.scores[i]!);
    });
  }
  const seeds = [...bySeed.keys()].sort((a, b) => a - b);
  if (seeds.length < 2) return undefined;
  let sum = 0;
  let pairs = 0;
  let archs = 0;
  for (let i = 0; i < seeds.length; i++) {
    for (let j = i + 1; j < seeds.length; j++) {
      const a = bySeed.get(seeds[i]!)!;
      const b = bySeed.get(seeds[j]!)!;
      const common = [...a.keys()].filter((k) => b.has(k));
      archs = Math.max(archs, common.length);
      if (common.length < 3) continue;
      const rho = spearman(
        common.map((k) => a.get(k)!),
        common.map((k) => b.get(k)!),
      ).value;
      if (Number.isFinite(rho)) {
        sum += rho;
        pairs++;
      }
    }
  }
  return { space, task, proxy, seeds, archs, pairs, spearman: pairs > 0 ? sum / pairs : NaN };
}

export function seedStabilityRows(rows: readonly SeedStability[]): (string | number)[][] {
  return rows.map((r) => [r.space, r.task, r.proxy, r.seeds.join(' '), r.archs, r.pairs, r.spearman]);
}
