import { DuckDBInstance } from '@duckdb/node-api';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'fs';
import { dirname, join, relative } from 'path';
import { parse } from 'yaml';
import { LocalCache } from '../src/storage/cache';
import { CARD_PATH } from '../src/storage/dataset-card';
import { datasetKeys } from '../src/storage/manifest';
import { publishVersion } from '../src/storage/publish';
import { FormatError } from '../src/errors';
import { openDataset } from '../src/storage/dataset';
import { PULL_RECORD, pullVersion, type PullRecord } from '../src/storage/pull';
import { row, startTestS3, storeOf } from './helpers/s3';

/**
 * A published version carries its dataset card; a pull writes it at the root with a YAML header
 * whose configs name the pull's own Parquet files (a Hugging Face dataset as it stands). The
 * Parquet is read back with DuckDB, not the project's reader.
 */
const A = '(0, 2, 3, 2, 3, 1)';
const B = '(1, 1, 1, 1, 1, 1)';

interface CardHeader {
  license: string;
  configs: { config_name: string; default?: boolean; data_files: { split: string; path: string }[] }[];
}

/** Every file under `dir`, relative to it. */
function allFiles(dir: string): string[] {
  const all: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else all.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return all;
}

/** The files under `dir` matching a data_files glob (`*` = one path segment's characters). */
function globFiles(dir: string, glob: string): string[] {
  const re = new RegExp(
    '^' +
      glob
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*') +
      '$',
  );
  return allFiles(dir).filter((f) => re.test(f));
}

function header(card: string): CardHeader {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  expect(m).not.toBeNull();
  return parse(m![1]!) as CardHeader;
}

describe('dataset card and Hugging Face layout of a pull', () => {
  let env: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    env = await startTestS3('card');
    await publishVersion(storeOf(env.s3), {
      dataset: 'cardset',
      buildId: 'b1',
      rows: [
        row({ arch: A, proxy: 'synflow', score: 41.9, seed: 0 }),
        row({ arch: B, proxy: 'synflow', score: -1e8, seed: 0 }),
        row({ arch: A, proxy: 'params', score: 0.6 }),
        row({ arch: B, proxy: 'params', score: 0.07 }),
        row({ task: 'cifar100', arch: A, proxy: 'params', score: 0.62 }),
      ],
      groundTruth: [
        { space: 'nasbench201', task: 'cifar10', arch: A, valAccuracy: 86.06, origin: 'test' },
        { space: 'nasbench201', task: 'cifar10', arch: B, valAccuracy: 10.0, origin: 'test' },
      ],
      expected: [],
      provenance: { fingerprint: 'fp-card-test', dataSources: [{ source: 'synthetic', sha256: 'ab'.repeat(32) }] },
    });
  });
  afterAll(async () => env.stop());

  test('the published version has its card: configs per (space, task), licence, citation, provenance, meanings', async () => {
    const bytes = await storeOf(env.s3).getKey(datasetKeys.card('cardset', 'v1'));
    expect(bytes).not.toBeNull();
    const card = bytes!.toString('utf8');
    const h = header(card);
    expect(h.license).toBe('apache-2.0');
    expect(h.configs.map((c) => c.config_name).sort()).toEqual(['ground_truth', 'long', 'nasbench201--cifar10', 'nasbench201--cifar100']);
    // Paths are the pull's: Parquet under data/.
    expect(h.configs.find((c) => c.config_name === 'nasbench201--cifar10')!.data_files).toEqual([
      { split: 'train', path: 'data/parquet/nasbench201/cifar10/*.parquet' },
    ]);
    for (const text of [
      'NAS-Bench-Suite-Zero',
      'Krishnakumar',
      '@software{zcbench',
      'fp-card-test',
      '-100000000',
      'room_layout',
      '#188',
      'natural log',
      'pd.read_parquet',
      'read_parquet(',
      'load_dataset("parquet", data_files=',
      'load_dataset("path/to/cardset-v1")',
      'huggingface-cli upload ORG/NAME path/to/cardset-v1 . --repo-type dataset',
      'json.load',
      'zcbench:seeds',
    ]) {
      expect(card).toContain(text);
    }
  });

  test('a pull is a Hugging Face dataset: card at the root, every config names existing Parquet that DuckDB reads', async () => {
    const out = join(env.dir, 'pulled');
    await pullVersion(storeOf(env.s3), { dataset: 'cardset', outDir: out, format: 'both', cache: new LocalCache(join(env.dir, 'cache')) });
    expect(existsSync(join(out, CARD_PATH))).toBe(true);
    const h = header(readFileSync(join(out, CARD_PATH), 'utf8'));
    // Exactly one default, so load_dataset(dir) needs no config name.
    expect(h.configs.filter((c) => c.default).map((c) => c.config_name)).toEqual(['long']);
    expect(h.configs.map((c) => c.config_name).sort()).toEqual([
      'ground_truth',
      'long',
      'nasbench201--cifar10',
      'nasbench201--cifar100',
      'wide--nasbench201--cifar10',
      'wide--nasbench201--cifar100',
    ]);
    // Every Parquet of the pull is under data/ and in some config; the root holds the card, the
    // NASLib json and pull's own json (Hugging Face loads only what the configs name).
    const parquet = allFiles(out).filter((f) => f.endsWith('.parquet'));
    expect(parquet.length).toBeGreaterThan(0);
    for (const f of parquet) expect(f).toMatch(/^data\//);
    const named = new Set(h.configs.flatMap((c) => c.data_files.flatMap((d) => globFiles(out, d.path))));
    expect(parquet.filter((f) => !named.has(f))).toEqual([]);
    expect(readdirSync(out).sort()).toEqual([CARD_PATH, 'data', 'manifest.json', 'zc_nasbench201.json', 'zcbench-pull.json'].sort());
    for (const c of h.configs)
      for (const f of c.data_files)
        expect({ config: c.config_name, path: f.path, split: f.split }).toEqual({
          config: c.config_name,
          path: expect.stringMatching(/^data\//),
          split: 'train',
        });

    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      for (const c of h.configs) {
        for (const f of c.data_files) {
          const files = globFiles(out, f.path);
          expect({ config: c.config_name, files: files.length > 0 }).toEqual({ config: c.config_name, files: true });
          const n = (await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${join(out, f.path)}')`)).getRowObjectsJS()[0]!;
          expect(Number(n.n)).toBeGreaterThan(0);
        }
      }
      // The long table through the default config's own path.
      const long = join(out, h.configs.find((c) => c.default)!.data_files[0]!.path);
      const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${long}')`)).getRowObjectsJS();
      const types = Object.fromEntries(described.map((d) => [String(d.column_name), String(d.column_type)]));
      expect(types).toMatchObject({
        arch: 'VARCHAR',
        arch_readable: 'VARCHAR',
        proxy: 'VARCHAR',
        seed: 'BIGINT',
        batchSize: 'INTEGER',
        score: 'DOUBLE',
        val_accuracy: 'DOUBLE',
      });
      const rows = (
        await conn.runAndReadAll(
          `SELECT arch, arch_readable, val_accuracy FROM read_parquet('${long}') WHERE task = 'cifar10' AND proxy = 'synflow' ORDER BY arch`,
        )
      ).getRowObjectsJS();
      expect(rows.map((r) => r.val_accuracy)).toEqual([86.06, 10.0]);
      // NB201's API string: three node groups of op~input, joined by "+".
      for (const r of rows) expect(String(r.arch_readable)).toMatch(/^\|[a-z_0-9x]+~0\|\+\|[a-z_0-9x]+~0\|[a-z_0-9x]+~1\|\+\|/);
      const wide = (
        await conn.runAndReadAll(
          `SELECT arch, synflow, params FROM read_parquet('${join(out, h.configs.find((c) => c.config_name === 'wide--nasbench201--cifar10')!.data_files[0]!.path)}') ORDER BY arch`,
        )
      ).getRowObjectsJS();
      expect(wide).toEqual([
        { arch: A, synflow: 41.9, params: 0.6 },
        { arch: B, synflow: -1e8, params: 0.07 },
      ]);
    } finally {
      conn.closeSync();
    }
  });

  test('a pull made before the data/ layout (Parquet at the root) still opens, and a file missing from a pull is named', async () => {
    const out = join(env.dir, 'layouts');
    await pullVersion(storeOf(env.s3), { dataset: 'cardset', outDir: out, format: 'both', cache: new LocalCache(join(env.dir, 'cache')) });
    const current = await openDataset(out);
    // The earlier layout: every manifest path at the root, the record's keys the same paths.
    const old = join(env.dir, 'old-layout');
    cpSync(out, old, { recursive: true });
    const record = JSON.parse(readFileSync(join(old, PULL_RECORD), 'utf8')) as PullRecord;
    const files: PullRecord['files'] = {};
    for (const [path, f] of Object.entries(record.files)) {
      const before = path.replace(/^data\//, '');
      if (before !== path) {
        mkdirSync(dirname(join(old, before)), { recursive: true });
        renameSync(join(old, path), join(old, before));
      }
      files[before] = f;
    }
    expect(Object.keys(files).filter((p) => p.startsWith('parquet/')).length).toBeGreaterThan(0);
    writeFileSync(join(old, PULL_RECORD), JSON.stringify({ ...record, files, derived: undefined }));
    rmSync(join(old, 'data'), { recursive: true });
    const earlier = await openDataset(old);
    expect([...earlier.rows()]).toEqual([...current.rows()]);
    expect(earlier.valAccuracy('nasbench201', 'cifar10', A)).toBe(86.06);

    const part = Object.keys(JSON.parse(readFileSync(join(out, PULL_RECORD), 'utf8')).files as object).find((p) => p.startsWith('data/parquet/'))!;
    rmSync(join(out, part));
    await expect(openDataset(out)).rejects.toThrow(new FormatError(join(out, part), `listed in ${PULL_RECORD} but missing (moved since the pull? pull again)`));
  });

  test('a filtered pull\u2019s card lists only what it holds', async () => {
    const out = join(env.dir, 'filtered');
    await pullVersion(storeOf(env.s3), {
      dataset: 'cardset',
      outDir: out,
      format: 'parquet',
      filter: { task: 'cifar100' },
      cache: new LocalCache(join(env.dir, 'cache')),
    });
    const h = header(readFileSync(join(out, CARD_PATH), 'utf8'));
    expect(h.configs.map((c) => c.config_name).sort()).toEqual(['long', 'nasbench201--cifar100', 'wide--nasbench201--cifar100']);
    for (const c of h.configs) for (const f of c.data_files) expect(globFiles(out, f.path).length).toBeGreaterThan(0);
  });
});
