import { optFlag, optString, parseArgs, PROXIES_OPTION } from '../args';
import type { Command } from '../command';
import { isBuiltInColumn, parseColumnList, parseSpace, parseTask, type SpaceName } from '../../core/names';
import { InputError, NotFoundError } from '../../errors';
import { canonicalArch, searchSpace } from '../../core/spaces';
import { formatNumber, formatTable } from '../../storage/format';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { openDatasetSource } from '../store-env';
import type { StoredRow } from '../../storage/parquet';
import { rowPrecedes } from '../../storage/rows';

export const command: Command = {
  name: 'query',
  summary: "look up one architecture's proxy scores (and val_accuracy) in a dataset version",
  usage: 'zcbench query D[@VERSION]|DIR|FILE --space S --task T --arch A [--proxies p[,q]] [--json] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'space', value: true, description: 'search space (required)' },
    { name: 'task', value: true, description: 'task (required)' },
    { name: 'arch', value: true, description: 'architecture: NASLib\'s key "(0, 2, 3, 2, 3, 1)" in any spacing, or the space\'s readable form (required)' },
    PROXIES_OPTION,
    { name: 'json', value: false, description: 'print one JSON object (values exact)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) {
      throw new InputError(
        'argument',
        args.positionals.join(' ') || undefined,
        'exactly one D[@VERSION] (or s3://BUCKET/D[@VERSION], a pulled directory, a zc_<space>.json)',
      );
    }
    const required = (name: string): string => {
      const v = optString(args, name);
      if (v === undefined) throw new InputError(`--${name}`, undefined, 'required');
      return v;
    };
    const space = parseSpace(required('space'), '--space');
    const task = parseTask(required('task'), space, '--task');
    const given = required('arch');
    const proxyOpt = optString(args, 'proxies');
    const ds = await openDatasetSource(args.positionals[0]!, args, { only: { space, task } });
    const name = `${ds.dataset}@${ds.version ?? 'local'}`;
    const archs = ds.archs(space, task);
    if (archs.length === 0) throw new NotFoundError(`${name} has no rows for ${space}/${task}`);
    const arch = ds.findArch(space, task, given);
    if (arch === undefined) {
      if (canonicalArch(space, given) === undefined) throw notAnArch(space, given);
      throw new NotFoundError(
        `${name} has no architecture ${JSON.stringify(given)} in ${space}/${task} (${archs.length} architectures, e.g. ${JSON.stringify(archs[0])})`,
      );
    }
    const columns = ds.proxies(space, task);
    const proxies =
      proxyOpt !== undefined
        ? parseColumnList(
            proxyOpt,
            task,
            '--proxies',
            columns.filter((p) => !isBuiltInColumn(p)),
          )
        : columns;
    // Each value's row (the one `rowPrecedes` picks, as `score` does): which code and backend made it.
    const made = new Map<string, StoredRow>();
    for (const r of ds.filter({ space, task })) {
      const held = made.get(r.proxy);
      if (r.arch === arch && r.status === 'ok' && (!held || rowPrecedes(r, held))) made.set(r.proxy, r);
    }
    type Value = {
      score: number | null;
      time: number | null;
      fingerprint: string | null;
      backend: string | null;
      /** A user module's column: the sha256 of the module that made it. */
      module?: string;
      std?: number;
      n?: number;
      seeds?: number[];
      scores?: number[];
    };
    const scores: Record<string, Value> = {};
    for (const p of proxies) {
      const row = made.get(p);
      scores[p] = {
        score: ds.score(space, task, arch, p) ?? null,
        time: ds.time(space, task, arch, p) ?? null,
        fingerprint: row?.fingerprint ?? null,
        backend: row?.backend ?? null,
        ...(row?.module !== undefined ? { module: row.module } : {}),
      };
      // Several seeds: the mean ± sample sd, as the version's NASLib json has them.
      const seeded = ds.seedScores(space, task, arch, p);
      if (seeded) Object.assign(scores[p]!, { score: seeded.mean, std: seeded.std, n: seeded.n, seeds: seeded.seeds, scores: seeded.scores });
    }
    const shown = (v: Value) =>
      v.score === null ? '- (none)' : v.n ? `${formatNumber(v.score)} ± ${formatNumber(v.std!)} (${v.n} seeds)` : formatNumber(v.score);
    const valAccuracy = ds.valAccuracy(space, task, arch) ?? null;
    const readable = ds.readable(space, task, arch) ?? null;
    if (optFlag(args, 'json')) {
      const out = {
        dataset: ds.dataset,
        version: ds.version,
        manifestSha256: ds.manifestSha256,
        space,
        task,
        arch,
        arch_readable: readable,
        val_accuracy: valAccuracy,
        proxies: scores,
      };
      process.stdout.write(JSON.stringify(out) + '\n');
      return 0;
    }
    const lines = [
      `${name} manifest sha256 ${ds.manifestSha256 ?? '-'}`,
      `${space}/${task} ${arch}${readable !== null && readable !== arch ? `  ${readable}` : ''}`,
      `val_accuracy ${valAccuracy === null ? '-' : formatNumber(valAccuracy)}`,
      formatTable(
        ['PROXY', 'SCORE', 'TIME (s)', 'FINGERPRINT', 'BACKEND'],
        Object.entries(scores).map(([p, v]) => [p, shown(v), v.time === null ? '-' : formatNumber(v.time, 3), v.fingerprint ?? '-', v.backend ?? '-']),
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};

/** Neither a key of the space nor a readable form this version holds: what the key looks like. */
function notAnArch(space: SpaceName, given: string): InputError {
  try {
    searchSpace(space).parse(given, '--arch');
  } catch (err) {
    if (err instanceof InputError)
      return new InputError('--arch', given, `${err.expected}; or the readable form \`query\` prints beside a key of this version`);
    throw err;
  }
  return new InputError('--arch', given, 'an architecture of this version');
}
