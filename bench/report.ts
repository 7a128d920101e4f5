/**
 * Benchmark of `zcbench report`'s analyses at dataset scale: the whole NB201 space (15 625 cells)
 * on 5 tasks × 13 proxies ≈ 10^6 result rows (synthetic scores from the one RNG), timed through
 * table building, the analyses and writing the report files.
 * Run: npx tsx bench/report.ts  →  bench/results/report.json
 */
import { mkdir, mkdtemp, rm, writeFile } from 'fs/promises';
import { cpus, loadavg, tmpdir } from 'os';
import { join } from 'path';
import { PROXIES, type TaskName } from '../src/core/names';
import { Rng } from '../src/core/rng';
import { createReport, writeReport } from '../src/report/report';
import { ScoreTableBuilder } from '../src/report/table';
import type { GroundTruthRow, ResultRow } from '../src/storage/rows';

const TASKS: TaskName[] = ['cifar10', 'cifar100', 'ImageNet16-120', 'svhn', 'ninapro'];

function generate(): { results: ResultRow[]; truth: GroundTruthRow[] } {
  const rng = new Rng('bench-report');
  const results: ResultRow[] = [];
  const truth: GroundTruthRow[] = [];
  for (const task of TASKS) {
    for (let code = 0; code < 5 ** 6; code++) {
      const ops = Array.from({ length: 6 }, (_, k) => Math.floor(code / 5 ** k) % 5);
      const arch = `(${ops.join(', ')})`;
      const conv = ops.filter((o) => o === 2 || o === 3).length;
      const acc = Math.round((60 + 5 * conv + 5 * rng.normal()) * 100) / 100;
      truth.push({ space: 'nasbench201', task, arch, valAccuracy: acc, origin: 'bench' });
      for (const proxy of PROXIES) {
        const u = rng.float();
        results.push({
          tripleId: `${task}/${code}/${proxy}`,
          space: 'nasbench201',
          task,
          arch,
          proxy,
          seed: 9000,
          batchSize: 64,
          status: u < 0.001 ? 'failed' : 'ok',
          score: u < 0.001 ? null : u < 0.01 ? -1e8 : acc * rng.float() + conv,
          time: 0.1,
          backend: 'cpu',
          dataSource: 'synthetic',
          dataSha256: '0'.repeat(64),
          fingerprint: 'bench',
        });
      }
    }
  }
  return { results, truth };
}

async function main(): Promise<void> {
  const { results, truth } = generate();
  const t0 = performance.now();
  const builder = new ScoreTableBuilder();
  for (const row of truth) builder.addGroundTruth(row);
  for (const row of results) builder.addResult(row);
  const { tasks, counts } = builder.build();
  const t1 = performance.now();
  const report = createReport(tasks, counts, { dataset: 'bench', version: 'v1' }); // runs the analyses
  const analyses = report.analyses;
  const t2 = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'zc-bench-report-'));
  await writeReport(report, dir);
  const t3 = performance.now();
  await rm(dir, { recursive: true, force: true });
  const out = {
    benchmark: 'report analyses',
    resultRows: results.length,
    groundTruthRows: truth.length,
    tasks: tasks.length,
    proxies: analyses.spearman.proxies.length,
    seconds: {
      buildTables: +((t1 - t0) / 1000).toFixed(3),
      analyses: +((t2 - t1) / 1000).toFixed(3),
      writeReport: +((t3 - t2) / 1000).toFixed(3),
      total: +((t3 - t0) / 1000).toFixed(3),
    },
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    loadAverage1m: loadavg()[0],
    date: new Date().toISOString(),
  };
  await mkdir(join(__dirname, 'results'), { recursive: true });
  await writeFile(join(__dirname, 'results', 'report.json'), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
