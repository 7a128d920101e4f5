import { optFlag, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { InputError } from '../../errors';
import { formatBytes, formatCoverage, formatTable, summarizeCoverage } from '../../storage/format';
import type { Manifest } from '../../storage/manifest';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { checkDatasetName, listDatasets, listVersionIds, readLatest, resolveVersion } from '../../storage/versions';
import type { ObjectStore } from '../../storage/objects';
import { withCommandStore } from '../store-env';

function sizeOf(m: Manifest): number {
  return Object.values(m.files).reduce((s, f) => s + f.bytes, 0);
}

function versionLine(m: Manifest, isLatest: boolean): string[] {
  return [
    `${isLatest ? '*' : ' '}${m.version}`,
    m.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    m.parentVersion ?? '-',
    String(m.rowCount),
    formatCoverage(summarizeCoverage(m.coverage)),
    formatBytes(sizeOf(m)),
  ];
}

async function describeDataset(store: ObjectStore, dataset: string, versions: boolean, json: boolean): Promise<string> {
  const latest = await resolveVersion(store, dataset);
  if (!versions) {
    const m = latest.manifest;
    if (json) return JSON.stringify({ ...summaryOf(m), manifestSha256: latest.manifestSha256, coverage: m.coverage });
    const perTask = new Map<string, Manifest['coverage']>();
    for (const c of m.coverage) {
      const k = `${c.space}/${c.task}`;
      perTask.set(k, [...(perTask.get(k) ?? []), c]);
    }
    const lines = [
      `${dataset}@${m.version}  manifest sha256 ${latest.manifestSha256}`,
      `created ${m.createdAt}, parent ${m.parentVersion ?? '-'}, ${m.rowCount} rows, ${Object.keys(m.files).length} files, ${formatBytes(sizeOf(m))}`,
      `backends ${m.backends.join(', ') || '-'}; batch sizes ${m.batchSizes.join(', ') || '-'}; seeds ${m.seeds.join(', ') || '-'}`,
      '',
      formatTable(
        ['SPACE/TASK', 'PROXIES', 'COVERAGE'],
        [...perTask].map(([k, cs]) => [k, String(cs.length), formatCoverage(summarizeCoverage(cs))]),
      ),
    ];
    return lines.join('\n');
  }
  const ids = await listVersionIds(store, dataset);
  const manifests: { m: Manifest; isLatest: boolean }[] = [];
  for (const id of ids) {
    const r = await resolveVersion(store, dataset, id);
    manifests.push({ m: r.manifest, isLatest: r.isLatest });
  }
  if (json) return JSON.stringify(manifests.map(({ m, isLatest }) => ({ ...summaryOf(m), latest: isLatest })));
  return formatTable(
    ['VERSION', 'CREATED', 'PARENT', 'ROWS', 'COVERAGE', 'SIZE'],
    manifests.map(({ m, isLatest }) => versionLine(m, isLatest)),
  );
}

function summaryOf(m: Manifest) {
  return {
    dataset: m.dataset,
    version: m.version,
    parentVersion: m.parentVersion,
    createdAt: m.createdAt,
    rows: m.rowCount,
    files: Object.keys(m.files).length,
    bytes: sizeOf(m),
    coverage: summarizeCoverage(m.coverage),
  };
}

export const command: Command = {
  name: 'ls',
  summary: "list published datasets, or one dataset's coverage and versions",
  usage: 'zcbench ls [--dataset D] [--versions] [--json] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'dataset', value: true, description: "show one dataset: its latest version's coverage per (space, task)" },
    { name: 'versions', value: false, description: 'list every version (with --dataset)' },
    { name: 'json', value: false, description: 'machine-readable output (one JSON value)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length > 0) throw new InputError('argument', args.positionals[0], 'none (use --dataset D)');
    const json = optFlag(args, 'json');
    const dataset = optString(args, 'dataset');
    if (dataset !== undefined) checkDatasetName(dataset, '--dataset');
    else if (optFlag(args, 'versions')) throw new InputError('--versions', true, 'needs --dataset D');
    const out = await withCommandStore(args, ({ store, where }) =>
      dataset !== undefined ? describeDataset(store, dataset, optFlag(args, 'versions'), json) : listAll(store, where, json),
    );
    process.stdout.write(out + '\n');
    return 0;
  },
};

/** Every dataset with a latest version: one line each (or JSON). */
async function listAll(store: ObjectStore, where: string, json: boolean): Promise<string> {
  const rows: { m: Manifest; sha: string }[] = [];
  for (const d of await listDatasets(store)) {
    if (!(await readLatest(store, d))) continue;
    const r = await resolveVersion(store, d);
    rows.push({ m: r.manifest, sha: r.manifestSha256 });
  }
  if (json) return JSON.stringify(rows.map(({ m, sha }) => ({ ...summaryOf(m), manifestSha256: sha })));
  if (rows.length === 0) return `no datasets in ${where}`;
  const table = rows.map(({ m }) => [m.dataset, ...versionLine(m, false).map((c, i) => (i === 0 ? c.trim() : c))]);
  return formatTable(['DATASET', 'LATEST', 'CREATED', 'PARENT', 'ROWS', 'COVERAGE', 'SIZE'], table);
}
