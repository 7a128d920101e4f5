import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { tf } from '../src/core/backend';
import { computeProxies } from '../src/core/compute';
import { PROXIES } from '../src/core/names';

/**
 * A long run's memory stays flat: 200 consecutive (arch, all 13 proxies) evaluations in one process
 * at tiny size (ImageNet16-120 inputs, batch 2). No tensor may survive an evaluation, and RSS may
 * grow by less than 10 % after the first 10 evaluations.
 */
// A real collection before each RSS reading: garbage not yet collected is not growth.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

test('200 evaluations: no leaked tensors, RSS grows < 10 % after the first 10', async () => {
  // Cheap cells (few convolutions) keep 200 runs short; every op kind appears.
  const archs = ['(0, 4, 3, 1, 0, 4)', '(4, 0, 3, 1, 4, 3)', '(1, 1, 1, 1, 1, 1)', '(0, 3, 0, 4, 3, 0)', '(3, 0, 4, 0, 1, 3)'];
  let rssAfterWarmup = 0;
  let tensorsAfterWarmup = 0;
  for (let i = 0; i < 200; i++) {
    await computeProxies({
      space: 'nasbench201',
      task: 'ImageNet16-120',
      arch: archs[i % archs.length]!,
      proxies: [...PROXIES],
      seed: i,
      batchSize: 2,
      data: { source: 'synthetic' },
    });
    if (i === 9) {
      collectGarbage();
      rssAfterWarmup = process.memoryUsage().rss;
      tensorsAfterWarmup = tf.memory().numTensors;
    }
  }
  collectGarbage();
  const rss = process.memoryUsage().rss;
  expect(tf.memory().numTensors).toBe(tensorsAfterWarmup);
  expect(rss).toBeLessThan(rssAfterWarmup * 1.1);
}, 900_000);
