import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { COLUMN_PROXIES, isBuiltInColumn, type ColumnName, type SpaceName, type TaskName } from '../core/names';
import { readableArch } from '../core/spaces';
import { PACKAGE_VERSION } from '../version';
import { cellKey, effectiveRows, rowsBySeed, seedStatistics } from './cells';
import { SCHEMA_KEY, type StoredRow } from './parquet';
import { widePath } from './pull-layout';
import type { GroundTruthRow } from './rows';

export const WIDE_SCHEMA = 'zcbench.wide/1';

/** One wide table: a (space, task) with one row per architecture and a column per proxy. */
export interface WideTable {
  space: SpaceName;
  task: TaskName;
  /** Where a pull writes it, relative to the pull directory. */
  path: string;
  body: Uint8Array;
  rows: number;
}

/**
 * The wide form of the long table, per (space, task): columns `arch`, `arch_readable`,
 * `val_accuracy`, then one DOUBLE column per proxy present (NASLib's order). A cell's value is
 * its effective `ok` row's score (rowPrecedes: the lowest seed); a failed or missing cell is null.
 * A cell computed under several seeds holds their mean, and its proxy gets `<proxy>_std` (sample
 * standard deviation) and `<proxy>_n` columns: the table is then the seeds' summary, the long
 * table keeps one row per seed. Only (space, task)s with rows get a table.
 */
export function wideTables(rows: readonly StoredRow[], groundTruth: readonly GroundTruthRow[]): WideTable[] {
  const groups = new Map<string, { space: SpaceName; task: TaskName; archs: Map<string, Map<ColumnName, number>>; proxies: Set<ColumnName> }>();
  const bySeed = rowsBySeed(rows);
  const spread = new Map<string, { std: number; n: number }>(); // space/task/arch/proxy of multi-seed cells
  const seeded = new Set<string>(); // space/task/proxy with a multi-seed cell
  for (const r of effectiveRows(rows).values()) {
    const key = `${r.space}/${r.task}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { space: r.space, task: r.task, archs: new Map(), proxies: new Set() }));
    let scores = g.archs.get(r.arch);
    if (!scores) g.archs.set(r.arch, (scores = new Map()));
    g.proxies.add(r.proxy);
    if (r.status !== 'ok' || r.score === null) continue;
    const seeds = bySeed.get(cellKey(r));
    if (seeds && seeds.length > 1) {
      const { mean, std, n } = seedStatistics(seeds.map((s) => s.score!));
      scores.set(r.proxy, mean);
      spread.set(`${key}/${r.arch}/${r.proxy}`, { std, n });
      seeded.add(`${key}/${r.proxy}`);
    } else {
      scores.set(r.proxy, r.score);
    }
  }
  const truth = new Map(groundTruth.map((t) => [`${t.space}/${t.task}/${t.arch}`, t.valAccuracy]));
  // Architectures with a val_accuracy but no row yet get a row of nulls (their ground truth stays).
  for (const t of groundTruth) {
    const g = groups.get(`${t.space}/${t.task}`);
    if (g && !g.archs.has(t.arch)) g.archs.set(t.arch, new Map());
  }
  return [...groups.values()].map((g) => {
    const archs = [...g.archs.keys()];
    // NASLib's order, then user modules' columns by name.
    const proxies: ColumnName[] = [...COLUMN_PROXIES.filter((p) => g.proxies.has(p)), ...[...g.proxies].filter((p) => !isBuiltInColumn(p)).sort()];
    const columns: ColumnSource[] = [
      { name: 'arch', data: archs, type: 'STRING', nullable: false },
      { name: 'arch_readable', data: archs.map((a) => readableArch(g.space, a, g.task) ?? null), type: 'STRING' },
      { name: 'val_accuracy', data: archs.map((a) => truth.get(`${g.space}/${g.task}/${a}`) ?? null), type: 'DOUBLE' },
      ...proxies.map((p): ColumnSource => ({ name: p, data: archs.map((a) => g.archs.get(a)!.get(p) ?? null), type: 'DOUBLE' })),
      ...proxies
        .filter((p) => seeded.has(`${g.space}/${g.task}/${p}`))
        .flatMap((p): ColumnSource[] => {
          // A single-seed cell among multi-seed ones: std 0 over n = 1.
          const at = (a: string) => spread.get(`${g.space}/${g.task}/${a}/${p}`) ?? (g.archs.get(a)!.has(p) ? { std: 0, n: 1 } : null);
          return [
            { name: `${p}_std`, data: archs.map((a) => at(a)?.std ?? null), type: 'DOUBLE' },
            { name: `${p}_n`, data: archs.map((a) => at(a)?.n ?? null), type: 'INT32' },
          ];
        }),
    ];
    const body = new Uint8Array(
      parquetWriteBuffer({ columnData: columns, kvMetadata: [{ key: SCHEMA_KEY, value: WIDE_SCHEMA }], createdBy: `zcbench ${PACKAGE_VERSION}` }),
    );
    return { space: g.space, task: g.task, path: widePath(g.space, g.task), body, rows: archs.length };
  });
}
