import { optFlag, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { parseProxyList, parseSpace, parseTask } from '../../core/names';
import { InputError, NotFoundError } from '../../errors';
import { openDataset } from '../../storage/dataset';
import { formatTable } from '../../storage/format';
import type { StoredRow } from '../../storage/parquet';
import { rowPrecedes } from '../../storage/rows';
import { openStore, STORE_OPTION_SPECS, storeOptionsFromArgs } from '../../storage/store';
import { parseDatasetRef } from '../../storage/versions';

export const command: Command = {
  name: 'query',
  summary: 'look up one architecture\'s proxy scores (and val_accuracy) in a dataset version',
  usage: 'zcbench query D[@VERSION] --space S --task T --arch A [--proxy p[,q]] [--json] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'space', value: true, description: 'search space (required)' },
    { name: 'task', value: true, description: 'task (required)' },
    { name: 'arch', value: true, description: 'architecture string as in NASLib\'s files, e.g. "(0, 2, 3, 2, 3, 1)" (required)' },
    { name: 'proxy', value: true, description: 'only these proxies (comma-separated)' },
    { name: 'json', value: false, description: 'print one JSON object' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) throw new InputError('argument', args.positionals.join(' ') || undefined, 'exactly one D[@VERSION]');
    const { dataset, version } = parseDatasetRef(args.positionals[0]!);
    const required = (name: string): string => {
      const v = optString(args, name);
      if (v === undefined) throw new InputError(`--${name}`, undefined, 'required');
      return v;
    };
    const space = parseSpace(required('space'), '--space');
    const task = parseTask(required('task'), space, '--task');
    const arch = required('arch');
    const proxyOpt = optString(args, 'proxy');
    const store = openStore(storeOptionsFromArgs(args.options));
    const ds = await openDataset(`s3://${store.bucket}/${dataset}`, version, { ...storeOptionsFromArgs(args.options), only: { space, task } });
    const archs = ds.archs(space, task);
    if (archs.length === 0) throw new NotFoundError(`${dataset}@${ds.version} has no rows for ${space}/${task}`);
    if (!archs.includes(arch)) {
      throw new NotFoundError(`${dataset}@${ds.version} has no architecture ${JSON.stringify(arch)} in ${space}/${task} (${archs.length} architectures, e.g. ${JSON.stringify(archs[0])})`);
    }
    const proxies = proxyOpt !== undefined ? parseProxyList(proxyOpt, task, '--proxy') : ds.proxies(space, task);
    // Each value's row (the one `rowPrecedes` picks, as `score` does): which code and backend made it.
    const made = new Map<string, StoredRow>();
    for (const r of ds.filter({ space, task })) {
      const held = made.get(r.proxy);
      if (r.arch === arch && r.status === 'ok' && (!held || rowPrecedes(r, held))) made.set(r.proxy, r);
    }
    const scores: Record<string, { score: number | null; time: number | null; fingerprint: string | null; backend: string | null }> = {};
    for (const p of proxies) {
      const row = made.get(p);
      scores[p] = { score: ds.score(space, task, arch, p) ?? null, time: ds.time(space, task, arch, p) ?? null, fingerprint: row?.fingerprint ?? null, backend: row?.backend ?? null };
    }
    const valAccuracy = ds.valAccuracy(space, task, arch) ?? null;
    if (optFlag(args, 'json')) {
      process.stdout.write(JSON.stringify({ dataset, version: ds.version, manifestSha256: ds.manifestSha256, space, task, arch, val_accuracy: valAccuracy, proxies: scores }) + '\n');
      return 0;
    }
    const lines = [
      `${dataset}@${ds.version} manifest sha256 ${ds.manifestSha256}`,
      `${space}/${task} ${arch}  val_accuracy ${valAccuracy ?? '-'}`,
      formatTable(
        ['PROXY', 'SCORE', 'TIME (s)', 'FINGERPRINT', 'BACKEND'],
        Object.entries(scores).map(([p, v]) => [p, v.score === null ? '- (none)' : String(v.score), v.time === null ? '-' : String(v.time), v.fingerprint ?? '-', v.backend ?? '-']),
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
