import { optInt, optString, parseArgs } from '../args';
import type { Command } from '../command';
import { TASKS, type TaskName } from '../../core/names';
import { TASK_SPECS } from '../../core/tasks';
import { InputError } from '../../errors';
import { formatTable } from '../../storage/format';
import { addDataSet, listDataSets } from '../../storage/data-sets';
import { STORE_OPTION_SPECS } from '../../storage/store';
import { withCommandStore } from '../store-env';

/** `--seeds 0..K` (inclusive) or `0,3,5`. */
function parseSeeds(text: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(text);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : text.split(',').map(Number);
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s) || s < 0))
    throw new InputError('seeds', text, 'A..B or a comma-separated list of non-negative integers');
  return seeds;
}

export const command: Command = {
  name: 'data',
  summary: 'publish drawn minibatches of a local dataset (data add), list them (data ls)',
  usage: 'zcbench data add NAME --task T --from PATH [--seeds 0..K] [--batch-size N] | zcbench data ls',
  options: [
    { name: 'task', value: true, description: 'the task the dataset is for' },
    { name: 'from', value: true, description: "local copy of the task's training data (docs/data.md)" },
    { name: 'seeds', value: true, description: 'seeds to draw minibatches for: A..B or a,b,c (default 0..0)' },
    { name: 'batch-size', value: true, description: "samples per minibatch (default: the task's)" },
    ...STORE_OPTION_SPECS.filter((o) => o.name !== 'anonymous'),
  ],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    const [sub, name, ...rest] = args.positionals;
    if (sub === 'ls' && name === undefined) {
      const sets = await withCommandStore(args, ({ store }) => listDataSets(store));
      const rows = sets.map((m) => [m.name, m.task, String(m.batchSize), Object.keys(m.seeds).join(','), m.shape.join('x'), m.source.sha256.slice(0, 19)]);
      process.stdout.write(`${formatTable(['NAME', 'TASK', 'BATCH', 'SEEDS', 'SHAPE', 'SOURCE'], rows)}\n`);
      return 0;
    }
    if (sub !== 'add' || name === undefined || rest.length > 0) throw new InputError('argument', args.positionals.join(' ') || undefined, "'add NAME' or 'ls'");
    const task = optString(args, 'task');
    if (!task || !(TASKS as readonly string[]).includes(task)) throw new InputError('task', task, `one of ${TASKS.join(', ')}`);
    const from = optString(args, 'from');
    if (!from) throw new InputError('from', from, 'a local path to the dataset');
    const batchSize = optInt(args, 'batch-size', 1) ?? TASK_SPECS[task as TaskName].batchSize;
    const seeds = parseSeeds(optString(args, 'seeds') ?? '0..0');
    const m = await withCommandStore(args, ({ store }) => addDataSet(store, { name, task: task as TaskName, from, seeds, batchSize }));
    for (const [seed, s] of Object.entries(m.seeds))
      process.stdout.write(`${m.name} seed ${seed}: minibatch ${s.minibatch.sha256} (${s.minibatch.bytes} bytes), second ${s.second.sha256}\n`);
    return 0;
  },
};
