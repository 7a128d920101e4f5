/**
 * `npx tsx bench/agreement.ts`: compare's table for NB201 cells computed here on synthetic data
 * against the released NAS-Bench-Suite-Zero subset (test/fixtures/reference/zc_nasbench201_subset.json),
 * per task. Defaults: 100 cells (every k-th of the subset's sorted keys present in every task),
 * cifar10 and ImageNet16-120, batch 32 (the early tables' batch), seed 0, the proxies the subset holds.
 * Rows are appended to a JSONL file as they are computed, so a run can be stopped and resumed.
 * Writes <out>/agreement.txt, .csv, .md, differences.csv and the heatmap (.png/.svg).
 * Cost: all 12 proxies at batch 32 take ~5–15 s per cell and task on one wasm process, i.e.
 * 100 cells × 2 tasks ≈ 20–50 min.
 *
 * Options (environment): AGREE_ARCHS (100), AGREE_TASKS (cifar10,ImageNet16-120), AGREE_BATCH (32),
 * AGREE_SEED (0), AGREE_PROXIES (the subset's), AGREE_OUT (bench/results/agreement).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { backendSettings } from '../src/config';
import { initBackend } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { parseComputeProxyList, PROXIES, type ProxyName, type TaskName } from '../src/core/names';
import { comparisonCsv, comparisonMarkdown, comparisonMatrix, comparisonText, compareSources, differencesCsv } from '../src/report/compare';
import { renderHeatmapPng, renderHeatmapSvg } from '../src/report/heatmap';
import { Dataset, openDataset } from '../src/storage/dataset';
import type { StoredRow } from '../src/storage/parquet';

const REFERENCE = join(__dirname, '..', 'test', 'fixtures', 'reference', 'zc_nasbench201_subset.json');

async function main(): Promise<void> {
  const nArchs = Number(process.env.AGREE_ARCHS ?? 100);
  const tasks = (process.env.AGREE_TASKS ?? 'cifar10,ImageNet16-120').split(',') as TaskName[];
  const batchSize = Number(process.env.AGREE_BATCH ?? 32);
  const seed = Number(process.env.AGREE_SEED ?? 0);
  const out = process.env.AGREE_OUT ?? join(__dirname, 'results', 'agreement');
  mkdirSync(out, { recursive: true });
  const reference = await openDataset(REFERENCE);
  const common = tasks.map((t) => new Set(reference.archs('nasbench201', t))).reduce((a, b) => new Set([...a].filter((x) => b.has(x))));
  const sorted = [...common].sort();
  const step = Math.max(1, Math.floor(sorted.length / nArchs));
  const archs = sorted.filter((_, i) => i % step === 0).slice(0, nArchs);
  const rowsFile = join(out, `rows-b${batchSize}-s${seed}.jsonl`);
  const rows: StoredRow[] = existsSync(rowsFile)
    ? readFileSync(rowsFile, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as StoredRow)
    : [];
  const done = new Set(rows.map((r) => `${r.task}\u0000${r.arch}\u0000${r.proxy}`));
  const backend = await initBackend(backendSettings());
  process.stderr.write(`${archs.length} cells × ${tasks.join(', ')} at batch ${batchSize} on ${backend}; ${rows.length} rows from ${rowsFile}\n`);
  for (const task of tasks) {
    const proxies = parseComputeProxyList(process.env.AGREE_PROXIES ?? reference.proxies('nasbench201', task).join(','), task).filter((p): p is ProxyName =>
      (PROXIES as readonly string[]).includes(p),
    ); // rows hold NASLib's 13
    for (const [i, arch] of archs.entries()) {
      const todo = proxies.filter((p) => !done.has(`${task}\u0000${arch}\u0000${p}`));
      if (todo.length === 0) continue;
      const start = Date.now();
      const r = await computeProxies({ space: 'nasbench201', task, arch, proxies: todo, seed, batchSize, data: { source: 'synthetic' } });
      for (const proxy of todo) {
        const res = r.results[proxy]!;
        const row: StoredRow = {
          tripleId: `${task}-${arch}-${proxy}-${seed}-${batchSize}`,
          space: 'nasbench201',
          task,
          arch,
          proxy,
          seed,
          batchSize,
          status: 'ok',
          score: res.score,
          time: res.time,
          backend: r.backend,
          dataSource: 'synthetic',
          dataSha256: r.data.sha256,
          fingerprint: 'bench',
          valAccuracy: null,
        };
        rows.push(row);
        appendFileSync(rowsFile, JSON.stringify(row) + '\n');
      }
      process.stderr.write(`${task} ${i + 1}/${archs.length} ${arch} ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
    }
  }
  const computed = new Dataset(
    `synthetic-b${batchSize}`,
    null,
    null,
    rows.filter((r) => tasks.includes(r.task) && archs.includes(r.arch)),
    [],
  );
  const c = compareSources(computed, reference, {
    a: `zcbench synthetic, batch ${batchSize}, seed ${seed}, ${archs.length} cells`,
    b: 'zc_nasbench201_subset.json',
  });
  const files: [string, string | Buffer][] = [
    ['agreement.txt', comparisonText(c)],
    ['agreement.csv', comparisonCsv(c)],
    ['agreement.md', comparisonMarkdown(c)],
    ['differences.csv', differencesCsv(c)],
    ['agreement.png', renderHeatmapPng(comparisonMatrix(c))],
    ['agreement.svg', renderHeatmapSvg(comparisonMatrix(c))],
  ];
  for (const [name, content] of files) writeFileSync(join(out, name), content);
  process.stdout.write(comparisonText(c));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
