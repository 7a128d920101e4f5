import { optString, parseArgs, PROXIES_OPTION } from '../args';
import type { Command } from '../command';
import { parseProxyList, parseSpace, parseTask } from '../../core/names';
import { InputError } from '../../errors';
import { formatBytes } from '../../storage/format';
import { PULL_FORMATS, pullVersion, type PullFilter, type PullFormat } from '../../storage/pull';
import { WIDE_DIR } from '../../storage/pull-layout';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { parseDatasetRef } from '../../storage/versions';
import { withCommandStore } from '../store-env';

/** Files at least this large report download progress on stderr. */
const PROGRESS_MIN_BYTES = 8_000_000;

export const command: Command = {
  name: 'pull',
  summary: 'download a dataset version (verified, cached): NASLib json, Parquet under data/, its dataset card',
  usage:
    'zcbench pull D[@VERSION] [--space S] [--task T] [--proxies a,b] [--format naslib|parquet|both] [--out DIR] [--endpoint URL] [--bucket B] [--profile P] [--anonymous]',
  options: [
    { name: 'space', value: true, description: 'only this search space' },
    { name: 'task', value: true, description: 'only this task' },
    PROXIES_OPTION,
    { name: 'format', value: true, description: 'naslib, parquet or both (default both)' },
    { name: 'out', value: true, description: 'output directory (default ./<dataset>-<version>)' },
    ...STORE_OPTION_SPECS,
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) throw new InputError('argument', args.positionals.join(' ') || undefined, 'exactly one D[@VERSION]');
    const { dataset, version } = parseDatasetRef(args.positionals[0]!);
    const filter: PullFilter = {};
    const space = optString(args, 'space');
    const task = optString(args, 'task');
    const proxy = optString(args, 'proxies');
    if (space !== undefined) filter.space = parseSpace(space, '--space');
    if (task !== undefined) filter.task = parseTask(task, filter.space, '--task');
    if (proxy !== undefined) filter.proxies = parseProxyList(proxy, filter.task, '--proxies');
    const format = optString(args, 'format') ?? 'both';
    if (!(PULL_FORMATS as readonly string[]).includes(format)) throw new InputError('--format', format, `valid: ${PULL_FORMATS.join(', ')}`);
    let lastReport = 0;
    const result = await withCommandStore(args, ({ store }) =>
      pullVersion(store, {
        dataset,
        version,
        filter,
        format: format as PullFormat,
        outDir: optString(args, 'out'),
        onProgress: (path, done, total) => {
          if (total < PROGRESS_MIN_BYTES) return;
          const now = Date.now();
          if (done < total && now - lastReport < 1000) return;
          lastReport = now;
          process.stderr.write(`pull: ${path} ${formatBytes(done)} / ${formatBytes(total)}\n`);
        },
      }),
    );
    const files = Object.keys(result.files).length;
    process.stdout.write(
      [
        `${result.dataset}@${result.version} manifest sha256 ${result.manifestSha256}`,
        `${files} files written to ${result.outDir}${result.derived && Object.keys(result.derived).length > 0 ? `, and ${Object.keys(result.derived).length} wide tables under ${WIDE_DIR}/` : ''}`,
        `downloaded ${result.downloadedBytes} bytes (${formatBytes(result.downloadedBytes)}); ${result.downloadedFiles} objects fetched, ${result.cachedFiles} from cache`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
