import { parseArgs } from '../args';
import type { Command } from '../command';
import { InputError } from '../../errors';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { parseDatasetRef, readLatest, setLatest } from '../../storage/versions';
import { withCommandStore } from '../store-env';

export const command: Command = {
  name: 'set-latest',
  summary: "point a dataset's latest at an existing version (rollback or roll forward)",
  usage: 'zcbench set-latest D@VERSION [--endpoint URL] [--bucket B] [--profile P]',
  options: STORE_OPTION_SPECS.filter((o) => o.name !== 'anonymous'),
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) throw new InputError('argument', args.positionals.join(' ') || undefined, 'exactly one D@VERSION');
    const { dataset, version } = parseDatasetRef(args.positionals[0]!);
    if (version === undefined) throw new InputError('argument', args.positionals[0], 'D@VERSION with an explicit version, e.g. demo@v2');
    const { before, pointer } = await withCommandStore(args, async ({ store }) => {
      const before = await readLatest(store, dataset);
      // setLatest checks that every file of the version is present before it moves the pointer.
      return { before, pointer: await setLatest(store, dataset, version) };
    });
    process.stdout.write(`${dataset}: latest ${before?.version ?? '(none)'} → ${pointer.version} manifest sha256 ${pointer.manifestSha256}\n`);
    return 0;
  },
};
