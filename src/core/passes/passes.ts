import type { tf } from '../backend';
import type { TargetTensor } from '../loss';
import type { BatchShard } from '../nn/batch-shard';
import type { BatchNormSpec, NetworkDef } from '../nn/ops';
import type { ParamSpec } from '../nn/params';
import { LayerCache } from '../nn/replay';
import { ShapeOps } from '../nn/shape';
import type { LossKind } from '../tasks';
import type { PassDefinition } from './pass';

/** zen's random tensors, drawn by the caller (or injected by a fixture). */
export interface ZenDraws {
  /** Re-initialised conv/linear weights by parameter name (biases are 0, batch norms γ = 1, β = 0). */
  weights: Map<string, tf.Tensor>;
  input: tf.Tensor;
  noise: tf.Tensor;
}

/** az_nas's random tensors, drawn by the caller (or injected by a fixture). */
export interface AzNasDraws {
  /** Kaiming-normal (fan-in) conv/linear weights by parameter name (biases 0, batch norms γ = 1, β = 0). */
  weights: Map<string, tf.Tensor>;
  /** Its Gaussian input, the minibatch's shape. */
  input: tf.Tensor;
  /** The ±1 Bernoulli(0.5) gradient for block i's output, NHWC `shape`: a new tensor the caller of `signs` owns. */
  signs(block: number, shape: number[]): tf.Tensor;
}

/** A minibatch as tensors. */
export interface MinibatchTensors {
  x: tf.Tensor;
  target: TargetTensor;
}

export interface PassInputs {
  net: NetworkDef;
  loss: LossKind;
  /** Every parameter, by name: the network as initialised. Owned by the caller. */
  weights: Map<string, tf.Tensor>;
  /** Parameter list in module order (from a shape trace). */
  params: ParamSpec[];
  /** Conv/linear modules that never run (TNB's GAN discriminator): l2_norm reads them, nothing else. */
  unusedParams?: ParamSpec[];
  /** Every batch norm module (zen reads their running variances). */
  batchNorms: BatchNormSpec[];
  x: tf.Tensor;
  target: TargetTensor;
  /** Called lazily, only when zen runs. */
  zenDraws: () => ZenDraws;
  /** Called lazily, only when az_nas runs. */
  azNasDraws?: () => AzNasDraws;
  /** The job's second minibatch (zico, swap), drawn by the caller when a requested pass reads it. */
  secondMinibatch?: MinibatchTensors;
  /** Passes whose backward recomputes the network's segments instead of keeping them (memory.ts plans it). */
  recomputed?: ReadonlySet<string>;
  /**
   * Keep every convolution's output from the first pass over (weights, x) and replay it in the
   * others (nn/replay.ts): memory.ts decides, from the network, task and batch size alone.
   */
  cacheLayers?: boolean;
  /** These inputs are one shard of the job's minibatch: shardable passes reduce over every shard. */
  shard?: BatchShard;
  /** Runs the shardable passes on every shard of the minibatch (src/core/shards) and returns the whole batch's result. */
  sharding?: PassSharding;
}

/** Where a job's shardable passes run when its minibatch is split between wasm heaps. */
export interface PassSharding {
  /** `pass` (its shardable dependencies already run) on every shard; the result stays the sharding's to dispose. */
  run<R>(pass: PassDefinition<string, R>): R;
}

/**
 * The passes of one evaluation (docs/proxies.md §6): each runs at most once, after its
 * dependencies, is timed, and its result is kept in one memo map until `dispose`.
 */
export class Passes {
  readonly seconds = new Map<string, number>();
  private readonly results = new Map<PassDefinition, unknown>();
  /** Results a sharding computed: it disposes them. */
  private readonly sharded = new Set<PassDefinition>();
  private readonly prunable: ParamSpec[];
  private fullBatchTrace: ShapeOps | null = null;
  /** Convolution outputs on (weights, x), shared by the passes that are `cached`. */
  readonly layers: LayerCache | undefined;

  constructor(readonly inputs: PassInputs) {
    this.prunable = inputs.params.filter((p) => p.prunable);
    this.layers = inputs.cacheLayers ? new LayerCache() : undefined;
  }

  /** The result of `pass`, run (after its dependencies) the first time it is asked for. */
  get<R>(pass: PassDefinition<string, R>): R {
    if (this.results.has(pass)) return this.results.get(pass) as R;
    if (!pass.run) throw new Error(`the ${pass.name} stage is timed by the caller, not run as a pass`);
    for (const dependency of pass.dependencies) if (dependency.run) this.get(dependency);
    const { sharding } = this.inputs;
    const delegated = pass.shardable === true && sharding !== undefined;
    const result = this.timed(pass.name, () => (delegated ? sharding.run(pass) : pass.run!(this)));
    this.results.set(pass, result);
    if (delegated) this.sharded.add(pass);
    return result;
  }

  get batchSize(): number {
    return this.inputs.x.shape[0]!;
  }

  get weights(): Map<string, tf.Tensor> {
    return this.inputs.weights;
  }

  get prunableParams(): ParamSpec[] {
    return this.prunable;
  }

  /** 𝒫 as NASLib registers it: every conv/linear module, run or not (l2_norm). */
  get registeredPrunableParams(): ParamSpec[] {
    return [...this.prunable, ...(this.inputs.unusedParams ?? []).filter((p) => p.prunable)];
  }

  get target(): TargetTensor {
    return this.inputs.target;
  }

  /** The job's minibatches in draw order: its minibatch, then the second one. */
  minibatches(): MinibatchTensors[] {
    const second = this.inputs.secondMinibatch;
    if (!second) throw new Error('no second minibatch: the caller draws it when a pass depends on minibatch1');
    return [{ x: this.inputs.x, target: this.inputs.target }, second];
  }

  record(name: string, seconds: number): void {
    this.seconds.set(name, (this.seconds.get(name) ?? 0) + seconds);
  }

  private timed<R>(name: string, fn: () => R): R {
    const start = process.hrtime.bigint();
    try {
      return fn();
    } finally {
      this.record(name, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  /** A shape trace at the minibatch's size: layer shapes for fisher's probes, segments. */
  batchTrace(): ShapeOps {
    if (!this.fullBatchTrace) {
      this.fullBatchTrace = new ShapeOps();
      this.inputs.net.forward(this.fullBatchTrace, this.inputs.x.shape);
    }
    return this.fullBatchTrace;
  }

  /** The segment index when `pass` recomputes segments, else undefined (everything kept). */
  segmentsFor(pass: string) {
    return this.inputs.recomputed?.has(pass) ? this.batchTrace().segments : undefined;
  }

  /** A parameter of the network as initialised. */
  readonly lookup = (name: string): tf.Tensor => {
    const t = this.inputs.weights.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  dispose(): void {
    for (const [pass, result] of this.results) if (!this.sharded.has(pass)) pass.dispose?.(result);
    this.results.clear();
    this.layers?.dispose();
  }
}
