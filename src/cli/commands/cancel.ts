import { parseArgs } from '../args';
import type { Command } from '../command';
import { loadConfig } from '../../config';
import { InputError } from '../../errors';
import { cancelBuild } from '../../queue/cancel';
import { BUILD_ID_PATTERN } from '../../queue/schema';
import { openPipelineRedis } from '../pipeline-env';

export const command: Command = {
  name: 'cancel',
  summary: 'cancel a build: remove its waiting and delayed jobs; workers skip the rest; it is never published',
  usage: 'zcbench cancel BUILD_ID',
  options: [],
  async run(argv) {
    const args = parseArgs(argv, this.options);
    if (args.positionals.length !== 1) throw new InputError('argument', args.positionals.join(' ') || undefined, 'exactly one build id');
    const buildId = args.positionals[0]!;
    if (!BUILD_ID_PATTERN.test(buildId)) throw new InputError('build id', buildId, 'a build id as `zcbench produce` prints it');
    const config = loadConfig();
    const redis = await openPipelineRedis(config);
    try {
      const r = await cancelBuild(redis, config.ZC_QUEUE_PREFIX, buildId);
      if (r.previousState === 'published') {
        process.stdout.write(`build ${buildId} is already published: nothing to cancel (roll back with \`zcbench set-latest\`)\n`);
        return 0;
      }
      process.stdout.write(
        `build ${buildId} cancelled${r.previousState === 'cancelled' ? ' (again)' : ''}: removed ${r.removed.light} jobs from zc-light, ${r.removed.heavy} from zc-heavy; ` +
          'running jobs finish, workers skip any other, the aggregator will not publish it\n',
      );
      return 0;
    } finally {
      redis.disconnect();
    }
  },
};
