import { mkdtemp, readFile, readdir, rm } from 'fs/promises';
import { tmpdir } from 'os';
import { join } from 'path';
import { PNG } from 'pngjs';
import { divergingColor } from '../src/report/heatmap';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from '../src/storage/embedded';
import { publishVersion } from '../src/storage/publish';
import type { ResultRow } from '../src/storage/rows';
import { openStore } from '../src/storage/store';
import { REPO_ROOT, runCli } from './helpers/cli';
import { cliEnv } from './helpers/s3';
import { expectedHeatmapGeometry, referenceSpearman } from './helpers/report-reference';

/**
 * `zcbench import-naslib` of the three released NAS-Bench-Suite-Zero subset files into a real
 * S3 API (s3rver), then `zcbench report`: the Spearman values must equal an independent
 * computation from the raw json files, and the heatmap must be a PNG of the documented layout.
 */
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'reference');
const FILES = ['zc_nasbench101_subset.json', 'zc_nasbench201_subset.json', 'zc_nasbench301_subset.json'];

/** The raw tables, read here without the project's importer (Python's -Infinity/NaN tokens as strings first). */
async function rawTables(): Promise<Map<string, { acc: number[]; scores: Map<string, (number | null)[]> }>> {
  const tables = new Map<string, { acc: number[]; scores: Map<string, (number | null)[]> }>();
  for (const file of FILES) {
    const text = (await readFile(join(FIXTURES, file), 'utf8')).replace(/(?<=[:\s])(-?Infinity|NaN)(?=[,}\s])/g, '"$1"');
    const special: Record<string, number> = { Infinity, '-Infinity': -Infinity, NaN };
    const root = JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v in special ? special[v] : v)) as Record<string, unknown>;
    const space = file.slice(3, file.indexOf('_subset'));
    const byTask = (space === 'nasbench101' ? root.nasbench101 : root) as Record<string, Record<string, Record<string, unknown>>>;
    for (const [task, entries] of Object.entries(byTask)) {
      const records = Object.values(entries);
      const proxies = new Set<string>();
      for (const r of records) for (const k of Object.keys(r)) if (!['idx', 'arch', 'val_accuracy'].includes(k)) proxies.add(k);
      const score = (v: unknown): number | null => (typeof v === 'number' ? v : v && typeof v === 'object' ? ((v as { score: number }).score ?? null) : null);
      tables.set(`${space}/${task}`, {
        acc: records.map((r) => r.val_accuracy as number),
        scores: new Map([...proxies].map((p) => [p, records.map((r) => score(r[p]))])),
      });
    }
  }
  return tables;
}

/** stderr lines other than structured logs below error level (s3rver's dropped keep-alive sockets log retry warnings). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50;
    } catch {
      return true;
    }
  });
}

describe('zcbench report (import-naslib of the released subsets, then report)', () => {
  let s3: EmbeddedS3;
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'zc-report-cli-'));
    s3 = await startEmbeddedS3({ dir: join(work, 's3'), bucket: 'zcreport' });
    env = cliEnv(s3, join(work, 'home'));
  });

  afterAll(async () => {
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('reports Spearman values equal to an independent computation, and a valid heatmap', async () => {
    const imported = await runCli(['import-naslib', ...FILES.map((f) => join(FIXTURES, f)), '--dataset', 'suite-zero'], { env });
    expect(errorLines(imported.stderr)).toEqual([]);
    expect(imported.code).toBe(0);

    const out = join(work, 'report');
    const res = await runCli(['report', 'suite-zero', '--out', out], { env });
    expect(errorLines(res.stderr)).toEqual([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('5 tasks with ground truth');
    expect((await readdir(out)).sort()).toEqual([
      'bias.csv',
      'index.html',
      'report.md',
      'spearman.csv',
      'spearman.png',
      'spearman.svg',
      'task_correlation.csv',
      'task_correlation.png',
      'task_correlation.svg',
    ]);

    // index.html carries the provenance of the rows read (rendering: report-html.test.ts).
    const html = await readFile(join(out, 'index.html'), 'utf8');
    expect(html).toContain('suite-zero@v1');
    expect(html).toMatch(/<dt>code fingerprints<\/dt><dd><code>naslib<\/code>/);

    // spearman.csv against Pearson-of-average-ranks computed here from the raw files.
    const raw = await rawTables();
    const lines = (await readFile(join(out, 'spearman.csv'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const seen = new Set<string>();
    const values = new Map<string, number>(); // "label|proxy" → Spearman
    for (const [space, task, label, proxy, n, value] of lines) {
      const table = raw.get(`${space}/${task}`)!;
      const scores = table.scores.get(proxy!);
      if (!scores) {
        expect([n, value]).toEqual(['0', '']); // proxy absent from this task (e.g. nwot on NB101)
        continue;
      }
      const want = referenceSpearman(scores, table.acc);
      expect(Number(n)).toBe(want.n);
      expect(Math.abs(Number(value) - want.value)).toBeLessThan(1e-9);
      seen.add(`${space}/${task}/${proxy}`);
      values.set(`${label}|${proxy}`, Number(value));
    }
    const expectedCells = [...raw.values()].reduce((k, t) => k + t.scores.size, 0);
    expect(seen.size).toBe(expectedCells); // every (task, proxy) of the files is in the table
    expect(raw.size).toBe(5);

    // The heatmap: proxies × tasks ordered by ascending mean, coloured by value.
    const labels = [...new Set(lines.map((l) => l[2]!))];
    const proxies = [...new Set(lines.map((l) => l[3]!))];
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const defined = (label: string, proxy: string) => values.get(`${label}|${proxy}`);
    const rowOrder = [...proxies].sort(
      (a, b) =>
        mean(labels.map((l) => defined(l, a)).filter((v): v is number => v !== undefined)) -
        mean(labels.map((l) => defined(l, b)).filter((v): v is number => v !== undefined)),
    );
    const colOrder = [...labels].sort(
      (a, b) =>
        mean(proxies.map((p) => defined(a, p)).filter((v): v is number => v !== undefined)) -
        mean(proxies.map((p) => defined(b, p)).filter((v): v is number => v !== undefined)),
    );
    const png = PNG.sync.read(await readFile(join(out, 'spearman.png')));
    const g = expectedHeatmapGeometry({ title: 'Spearman rank correlation with val_accuracy', rowLabels: rowOrder, colLabels: colOrder });
    expect([png.width, png.height]).toEqual([g.width, g.height]);
    rowOrder.forEach((proxy, i) =>
      colOrder.forEach((label, j) => {
        const o = ((g.gridY + i * g.cellHeight + 1) * png.width + g.gridX + j * g.cellWidth + 1) * 4;
        expect([png.data[o], png.data[o + 1], png.data[o + 2]]).toEqual(divergingColor(defined(label, proxy) ?? NaN));
      }),
    );

    // The summary names the best proxy of every task.
    const md = await readFile(join(out, 'report.md'), 'utf8');
    for (const label of labels) {
      const best = proxies.filter((p) => defined(label, p) !== undefined).reduce((a, b) => (defined(label, b)! > defined(label, a)! ? b : a));
      expect(md).toMatch(new RegExp(`\\| ${label} \\([^)]*\\) \\| ${best} \\| ${defined(label, best)!.toFixed(3)} \\|`));
    }
    const bias = await readFile(join(out, 'bias.csv'), 'utf8');
    expect(bias).toContain('nasbench301,cifar10,l2_norm,conv_pool,725,');
    expect(bias).not.toContain('nasbench101');
  });

  it('a version without ground truth (a synthetic-data build): report.md says why nothing is correlated, exit 0', async () => {
    const store = openStore({ endpoint: s3.endpoint, bucket: s3.bucket, credentials: { ...EMBEDDED_S3_CREDENTIALS } });
    const row: ResultRow = {
      tripleId: 'no-truth-1',
      space: 'nasbench201',
      task: 'cifar10',
      arch: '(0, 2, 3, 2, 3, 1)',
      proxy: 'params',
      seed: 0,
      batchSize: 64,
      status: 'ok',
      score: 0.615386,
      time: 0.1,
      backend: 'cpu',
      dataSource: 'synthetic',
      dataSha256: '0'.repeat(64),
      fingerprint: 'test',
    };
    const published = await publishVersion(store, {
      dataset: 'no-truth',
      buildId: 'report-test',
      rows: [row],
      expected: [{ space: 'nasbench201', task: 'cifar10', proxy: 'params', count: 1 }],
      provenance: { fingerprint: 'test', dataSources: [] },
    });
    const res = await runCli(['report', `no-truth@${published.version}`, '--out', join(work, 'none')], { env });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(res.stdout).toBe(
      `no-truth@${published.version}: no ground truth (val_accuracy), so nothing to correlate; 1 proxy rows\n1 file written to ${join(work, 'none')} (report.md says why)\n`,
    );
    expect(await readFile(join(work, 'none', 'report.md'), 'utf8')).toContain('This version has 1 proxy rows (0 failed) and no val_accuracy');
  });

  it('names a bad argument', async () => {
    const res = await runCli(['report', 'a', 'b'], { env });
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('invalid argument: "a b"');
  });
});
