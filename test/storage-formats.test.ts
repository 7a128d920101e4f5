import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { FormatError, InputError } from '../src/errors';
import { entriesFromRows, importedRows, parseNaslibJson, parsePythonJson, writeNaslibJson } from '../src/storage/naslib';
import { decodeRowsParquet, encodeRowsParquet, ROW_COLUMNS, type StoredRow } from '../src/storage/parquet';
import { wideTables } from '../src/storage/wide';
import { parquetReadObjects } from 'hyparquet';
import { row, tempDir } from './helpers/s3';

const REF = join(__dirname, 'fixtures', 'reference');
const read = (name: string) => readFileSync(join(REF, name), 'utf8');
type Tables = Record<string, Record<string, Record<string, unknown>>>;

describe('Python JSON tokens', () => {
  test('NaN, Infinity, -Infinity, inf and -inf parse as numbers; strings are left alone', () => {
    const v = parsePythonJson('{"a": -Infinity, "b": NaN, "c": [Infinity, -inf, inf], "s": "NaN -Infinity", "e": "x\\"NaN"}', 't.json') as Record<
      string,
      unknown
    >;
    expect(v.a).toBe(-Infinity);
    expect(Number.isNaN(v.b)).toBe(true);
    expect(v.c).toEqual([Infinity, -Infinity, Infinity]);
    expect(v.s).toBe('NaN -Infinity');
    expect(v.e).toBe('x"NaN');
  });

  test('invalid JSON is a FormatError naming the file', () => {
    expect(() => parsePythonJson('{"a": Nope}', 'bad.json')).toThrow(FormatError);
    expect(() => parsePythonJson('{"a": Nope}', 'bad.json')).toThrow(/^bad\.json: not JSON/);
  });
});

describe('NASLib zc_<space>.json', () => {
  test('the three released layouts parse, with the space from the file name or content', () => {
    const nb201 = parseNaslibJson(read('zc_nasbench201_subset.json'), 'zc_nasbench201_subset.json');
    expect(nb201.space).toBe('nasbench201');
    expect(nb201.entries).toHaveLength(725 + 725 + 724);
    const nwotInf = nb201.entries.flatMap((e) => e.proxies).filter((p) => p.proxy === 'nwot' && p.score === -Infinity);
    expect(nwotInf).toHaveLength(3);
    const noSynflow = nb201.entries.filter((e) => e.task === 'cifar10' && !e.proxies.some((p) => p.proxy === 'synflow'));
    expect(noSynflow.map((e) => e.arch)).toEqual(['(3, 2, 4, 0, 4, 4)']);

    // NB101: an extra "nasbench101" level and bare floats; found from content even under another name.
    const nb101 = parseNaslibJson(read('zc_nasbench101_subset.json'), 'renamed.json');
    expect(nb101.space).toBe('nasbench101');
    expect(nb101.spaceFrom).toBe('content');
    expect(nb101.entries).toHaveLength(500);
    expect(nb101.entries[0]!.proxies.every((p) => p.time === null)).toBe(true);
    expect(nb101.entries[0]!.idx).toBeUndefined();

    const nb301 = parseNaslibJson(read('zc_nasbench301_subset.json'), 'other.json');
    expect(nb301.space).toBe('nasbench301');
    expect(nb301.entries).toHaveLength(725);
  });

  test('writing the parsed entries gives back the same entries (idx, arch, scores, times, val_accuracy, -Infinity)', () => {
    for (const file of ['zc_nasbench201_subset.json', 'zc_nasbench301_subset.json', 'zc_nasbench101_subset.json']) {
      const text = read(file);
      const original = parsePythonJson(text, file) as Tables;
      const inner = (file.includes('101') ? original.nasbench101 : original) as Tables;
      const written = writeNaslibJson(parseNaslibJson(text, file).entries);
      expect(written).toContain(file.includes('201') ? '"score": -Infinity' : '"arch"');
      expect(parsePythonJson(written, 'written.json')).toEqual(file.includes('101') ? addArch(inner) : inner);
    }
  });

  test('rows built from imported entries regenerate the file', () => {
    const file = 'zc_nasbench201_subset.json';
    const parsed = parseNaslibJson(read(file), file);
    const imported = importedRows(parsed, { file, sha256: '0'.repeat(64) }, (k) => `${k.task}|${k.arch}|${k.proxy}`);
    expect(imported.rows).toHaveLength(725 * 12 * 2 + 724 * 12 - 1);
    expect(imported.rows.every((r) => r.backend === 'imported' && r.dataSource === file)).toBe(true);
    expect(imported.groundTruth).toHaveLength(725 + 725 + 724);
    const acc = new Map(imported.groundTruth.map((g) => [`${g.task}|${g.arch}`, g.valAccuracy]));
    const text = writeNaslibJson(entriesFromRows(imported.rows, (t, a) => acc.get(`${t}|${a}`)));
    expect(parsePythonJson(text, 'x')).toEqual(parsePythonJson(read(file), file));
  });

  test('files that are not NASLib tables are FormatErrors naming the file and what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['[1, 2]', /top level is not an object/],
      ['{}', /empty/],
      ['{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"params": 1, "colour": "red"}}}', /unknown key "colour"/],
      ['{"cifar10": {"(0, 1, 2, 3, 4, 0)": {"params": "many"}}}', /params: expected a number/],
      ['{"imagenet": {"(0, 1, 2, 3, 4, 0)": {"params": 1}}}', /"imagenet" is not a task of nasbench201/],
    ];
    for (const [text, why] of cases) {
      let err: unknown;
      try {
        parseNaslibJson(text, 'zc_nasbench201.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(/^zc_nasbench201\.json: /);
      expect((err as Error).message).toMatch(why);
    }
  });

  test('an undecidable space asks for --space', () => {
    // Six op indices on svhn: an NB201 cell or a TNB-101-micro cell; nothing in the file tells which.
    const text = '{"svhn": {"(0, 1, 2, 3, 1, 0)": {"params": 1}}}';
    expect(() => parseNaslibJson(text, 'table.json')).toThrow(InputError);
    expect(() => parseNaslibJson(text, 'table.json')).toThrow(/--space/);
    expect(parseNaslibJson(text, 'table.json', 'transbench101_micro').space).toBe('transbench101_micro');
  });
});

/** The NB101 release has no `arch` field; what zcbench writes always has one. */
function addArch(tables: Tables): Tables {
  const out: Tables = {};
  for (const [task, archs] of Object.entries(tables)) {
    out[task] = {};
    for (const [arch, entry] of Object.entries(archs)) out[task]![arch] = { arch, ...(entry as object) };
  }
  return out;
}

describe('Parquet long table', () => {
  const rows: StoredRow[] = [
    { ...row({ arch: '(0, 2, 3, 2, 3, 1)', proxy: 'nwot', score: -Infinity, archIdx: '534' }), valAccuracy: 86.06 },
    { ...row({ arch: '(0, 2, 3, 2, 3, 1)', proxy: 'synflow', score: 41.9, seed: 2 ** 40 }), valAccuracy: 86.06 },
    { ...row({ arch: '(1, 1, 1, 1, 1, 1)', proxy: 'jacov', status: 'failed', reason: 'singular matrix' }), valAccuracy: null },
  ];

  test('rows survive a write and read back, -Infinity, nulls and 64-bit seeds included', async () => {
    const back = await decodeRowsParquet(encodeRowsParquet(rows), 'p.parquet');
    expect(back).toEqual(rows);
  });

  test("a user module's row keeps its sha256; the wide table has its column after the built-ins", async () => {
    const arch = '(0, 2, 3, 2, 3, 1)';
    const params: StoredRow = { ...row({ arch, proxy: 'params', score: 0.5 }), valAccuracy: 86.06 };
    const counted: StoredRow = { ...params, tripleId: 'module-triple', proxy: 'weight_count', module: 'cd'.repeat(32), score: 500_000 };
    const back = await decodeRowsParquet(encodeRowsParquet([counted, params]), 'p.parquet');
    expect(back).toEqual([counted, params]);
    const [wide] = wideTables([counted, params], [{ space: 'nasbench201', task: 'cifar10', arch, valAccuracy: 86.06, origin: 'test' }]);
    const objects = await parquetReadObjects({
      file: wide!.body.buffer.slice(wide!.body.byteOffset, wide!.body.byteOffset + wide!.body.byteLength) as ArrayBuffer,
    });
    expect(Object.keys(objects[0]!)).toEqual(['arch', 'arch_readable', 'val_accuracy', 'params', 'weight_count']);
    expect(objects[0]).toMatchObject({ params: 0.5, weight_count: 500_000 });
  });

  test('DuckDB reads zcbench Parquet with the right row count and column types', async () => {
    const tmp = tempDir('duckdb');
    try {
      const path = join(tmp.dir, 'rows.parquet');
      writeFileSync(path, encodeRowsParquet(rows));
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).getRowObjectsJS();
      const types = Object.fromEntries(described.map((d) => [String(d.column_name), String(d.column_type)]));
      expect(Object.keys(types)).toEqual([...ROW_COLUMNS]);
      expect(types).toMatchObject({
        tripleId: 'VARCHAR',
        space: 'VARCHAR',
        arch: 'VARCHAR',
        arch_readable: 'VARCHAR',
        proxy: 'VARCHAR',
        seed: 'BIGINT',
        batchSize: 'INTEGER',
        status: 'VARCHAR',
        score: 'DOUBLE',
        time: 'DOUBLE',
        reason: 'VARCHAR',
        archIdx: 'VARCHAR',
        val_accuracy: 'DOUBLE',
      });
      const counts = (
        await conn.runAndReadAll(`SELECT count(*) AS n, count(score) AS scored, min(score) AS lowest, max(seed) AS seed FROM read_parquet('${path}')`)
      ).getRowObjectsJS()[0]!;
      expect(Number(counts.n)).toBe(3);
      expect(Number(counts.scored)).toBe(2);
      expect(counts.lowest).toBe(-Infinity);
      expect(BigInt(counts.seed as bigint)).toBe(BigInt(2 ** 40));
      conn.closeSync();
    } finally {
      tmp.remove();
    }
  });
});
