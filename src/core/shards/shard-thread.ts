/**
 * A batch shard of a sharded job (sharded-job.ts starts it): its own wasm backend holds its samples
 * of the minibatch and a copy of the job's weights, and runs the shardable passes it is told to, in
 * the order the main thread runs them on shard 0; the collectives in between go through shared
 * memory (shard-group.ts). It answers each message through `state` (blocking-thread.ts).
 */
import { workerData, type MessagePort } from 'worker_threads';
import { initBackend, tf } from '../backend';
import { signalState, STATE } from '../kernels/blocking-thread';
import { keepFilterFlips } from '../kernels/filter-flips';
import type { TargetTensor } from '../loss';
import { PASSES, type Passes, type PassName } from '../passes';
import { ShardGroup } from './shard-group';
import { shardNetwork, shardPasses } from './shard-passes';
import type { ZenDraws } from '../passes';
import type { ShardMessage, ShardSetup, TensorData } from './sharded-job';

const { port, state } = workerData as { port: MessagePort; state: SharedArrayBuffer };

interface Job {
  group: ShardGroup;
  passes: Passes;
  tensors: tf.Tensor[];
  /** zen's draws, from the message that runs it. */
  zen: ZenDraws | null;
  /** Drops the weights' kept flipped filters (kernels/filter-flips.ts). */
  releaseFlips: () => void;
}

const tensorOf = (t: TensorData) => tf.tensor(t.values, t.shape, 'float32');

let job: Job | null = null;

function setUp(setup: ShardSetup): Job {
  const net = shardNetwork(setup.network);
  const weights = new Map(setup.weights.map((w) => [w.name, tensorOf(w)]));
  const x = tensorOf(setup.x);
  const target: TargetTensor = { kind: setup.target.kind, values: tensorOf(setup.target) };
  const group = new ShardGroup(setup.memory, setup.index, setup.batchSize, setup.start, setup.size);
  const plan = { recomputed: new Set(setup.recomputed), cacheLayers: setup.cacheLayers };
  const job: Job = {
    group,
    passes: null as unknown as Passes,
    tensors: [...weights.values(), x, target.values],
    zen: null,
    releaseFlips: keepFilterFlips(weights.values()),
  };
  job.passes = shardPasses(net, setup.network, weights, x, target, plan, group, () => {
    if (!job.zen) throw new Error('zen ran on a shard whose message carried no zen draws');
    return job.zen;
  });
  return job;
}

function tearDown(): void {
  if (!job) return;
  job.passes.dispose();
  job.releaseFlips();
  for (const t of job.tensors) t.dispose();
  job = null;
}

function handle(message: ShardMessage): void {
  switch (message.type) {
    case 'setup':
      tearDown();
      job = setUp(message.setup);
      return;
    case 'run': {
      if (!job) throw new Error('a shard was told to run a pass before its job was set up');
      const current = job;
      if (message.zen && !current.zen) {
        const zen = message.zen;
        current.zen = { weights: new Map(zen.weights.map((w) => [w.name, tensorOf(w)])), input: tensorOf(zen.input), noise: tensorOf(zen.noise) };
        current.tensors.push(...current.zen.weights.values(), current.zen.input, current.zen.noise);
      }
      try {
        current.passes.get(PASSES[message.pass as PassName]);
      } catch (err) {
        // The others are waiting for this shard at their next exchange: let them go.
        current.group.abort();
        throw err;
      }
      return;
    }
    case 'end':
      tearDown();
      return;
  }
}

async function start(): Promise<void> {
  await initBackend({ backend: 'wasm' });
  port.on('message', (message: ShardMessage) => {
    try {
      handle(message);
      signalState(state, STATE.done);
    } catch (err) {
      port.postMessage(err instanceof Error ? err.message : String(err));
      signalState(state, STATE.failed);
    }
  });
  signalState(state, STATE.ready);
}

start().catch((err) => {
  port.postMessage(err instanceof Error ? err.message : String(err));
  signalState(state, STATE.failed);
});
