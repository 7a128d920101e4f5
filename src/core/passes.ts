import { tf } from './backend';
import { taskLoss, type TargetTensor } from './loss';
import type { BatchNormSpec, NetworkDef } from './nn/ops';
import type { ParamSpec } from './nn/params';
import { LayerCache } from './nn/replay';
import { ShapeOps } from './nn/shape';
import { SynflowOps, type ScaledTensor } from './nn/synflow';
import { TangentOps, type Dual } from './nn/tangent';
import { TensorOps } from './nn/tensor';
import type { LossKind } from './tasks';

/**
 * The passes the proxies share (docs/proxies.md §6). Each runs at most once per evaluation, is
 * timed, and produces plain numbers or kept tensors that the proxy files reduce:
 * - `gradient`: forward + backward of the loss w.r.t. prunable weights, with zero probes on the
 *   layer outputs: g_l (grad_norm, snip, plain, grasp's g) and fisher's per-layer saliency.
 * - `hessian`: grasp's Hessian-vector product Hg (forward-mode tangent, then reverse; needs `gradient`).
 * - `forward`: the ReLU agreement matrix K of nwot (forward only).
 * - `jacobian`: ∂(Σ outputs)/∂input, float64 rows (jacov, epe_nas).
 * - `zen`: zen's Δ and batch-norm term on its own N(0,1) weights and noise inputs.
 * - `synflow`: ln Σ|θ ⊙ ∂R/∂θ| on |θ|, no batch norm, an all-ones input.
 * The network build (shape trace + initial weights) and the minibatch are timed as `build` and `data`.
 */
export type PassName = 'build' | 'data' | 'gradient' | 'hessian' | 'forward' | 'jacobian' | 'zen' | 'synflow';

/** Passes each pass needs first (its time is part of what a proxy costs alone). */
export const PASS_DEPENDENCIES: Record<PassName, PassName[]> = {
  build: [],
  data: [],
  gradient: ['build', 'data'],
  hessian: ['gradient'],
  forward: ['build', 'data'],
  jacobian: ['build', 'data'],
  zen: ['build'],
  synflow: ['build'],
};

/** zen's random tensors, drawn by the caller (or injected by a fixture). */
export interface ZenDraws {
  /** Re-initialised conv/linear weights by parameter name (biases are 0, batch norms γ = 1, β = 0). */
  weights: Map<string, tf.Tensor>;
  input: tf.Tensor;
  noise: tf.Tensor;
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
  /** Passes whose backward recomputes the network's segments instead of keeping them (memory.ts plans it). */
  recomputed?: ReadonlySet<PassName>;
  /**
   * Keep every convolution's output from the first pass over (weights, x) and replay it in the
   * others (nn/replay.ts): memory.ts decides, from the network, task and batch size alone.
   */
  cacheLayers?: boolean;
}

export interface GradientResult {
  /** ∂L/∂W_l per prunable weight name. */
  grads: Map<string, tf.Tensor>;
  /** fisher's Σ_k F_{l,k} · fan_in per prunable module. */
  fisher: Map<string, number>;
}

export class Passes {
  readonly seconds = new Map<PassName, number>();
  private gradientResult: GradientResult | null = null;
  private hessianResult: Map<string, tf.Tensor> | null = null;
  private reluKernel: Float64Array | null = null;
  private jacobianRows: Float64Array | null = null;
  private zenResult: { logDelta: number; bnLogRho: number } | null = null;
  private synflowResult: { logScale: number; sum: number } | null = null;
  private readonly prunable: ParamSpec[];
  private fullBatchTrace: ShapeOps | null = null;
  /** Convolution outputs on (weights, x), shared by the gradient, hessian, forward and jacobian passes. */
  private readonly layers: LayerCache | undefined;

  constructor(private readonly inp: PassInputs) {
    this.prunable = inp.params.filter((p) => p.prunable);
    this.layers = inp.cacheLayers ? new LayerCache() : undefined;
  }

  get batchSize(): number {
    return this.inp.x.shape[0]!;
  }

  get weights(): Map<string, tf.Tensor> {
    return this.inp.weights;
  }

  get prunableParams(): ParamSpec[] {
    return this.prunable;
  }

  /** 𝒫 as NASLib registers it: every conv/linear module, run or not (l2_norm). */
  get registeredPrunableParams(): ParamSpec[] {
    return [...this.prunable, ...(this.inp.unusedParams ?? []).filter((p) => p.prunable)];
  }

  get target(): TargetTensor {
    return this.inp.target;
  }

  record(name: PassName, seconds: number): void {
    this.seconds.set(name, (this.seconds.get(name) ?? 0) + seconds);
  }

  private timed<R>(name: PassName, fn: () => R): R {
    const start = process.hrtime.bigint();
    try {
      return fn();
    } finally {
      this.record(name, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  /** A shape trace at the minibatch's size: layer shapes for fisher's probes, segments. */
  private batchTrace(): ShapeOps {
    if (!this.fullBatchTrace) {
      this.fullBatchTrace = new ShapeOps();
      this.inp.net.forward(this.fullBatchTrace, this.inp.x.shape);
    }
    return this.fullBatchTrace;
  }

  /** The segment index when `pass` recomputes segments, else undefined (everything kept). */
  private segmentsFor(pass: PassName) {
    return this.inp.recomputed?.has(pass) ? this.batchTrace().segments : undefined;
  }

  private lookup = (name: string): tf.Tensor => {
    const t = this.inp.weights.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  gradient(): GradientResult {
    if (this.gradientResult) return this.gradientResult;
    this.gradientResult = this.timed('gradient', () => {
      const { net, x, target, loss } = this.inp;
      const { layerShapes, layerCalls } = this.batchTrace();
      const modules = this.prunable.map((p) => p.module);
      // One probe per module call: fisher's saliency of a layer sums over its calls (jigsaw's 9 tiles),
      // as NASLib's hook accumulates per call.
      const probes = new Map(modules.map((m) => [m, Array.from({ length: layerCalls.get(m)! }, () => tf.zeros(gainShape(layerShapes.get(m)!)))]));
      const weightTensors = this.prunable.map((p) => this.lookup(p.name));
      const segments = this.segmentsFor('gradient');
      const grads = tf.grads(() => {
        const ops = new TensorOps(this.lookup, { probes }, segments, { cache: this.layers });
        return taskLoss(loss, net.forward(ops, x), target);
      })([...weightTensors, ...modules.flatMap((m) => probes.get(m)!)]);
      const out: GradientResult = { grads: new Map(), fisher: new Map() };
      let next = this.prunable.length;
      this.prunable.forEach((p, i) => {
        out.grads.set(p.name, grads[i]!);
        let saliency = 0;
        for (let c = 0; c < probes.get(p.module)!.length; c++) {
          const s = grads[next++]!;
          saliency += fisherSaliency(s);
          s.dispose();
        }
        out.fisher.set(p.module, p.fanIn * saliency);
      });
      for (const list of probes.values()) for (const t of list) t.dispose();
      return out;
    });
    return this.gradientResult;
  }

  /**
   * H·g for grasp: the reverse-mode gradient of L's directional derivative along g, computed by a
   * forward-mode (dual) pass (TangentOps). Exact, like NASLib's double backward, in far less memory.
   */
  hessianVector(): Map<string, tf.Tensor> {
    if (this.hessianResult) return this.hessianResult;
    const g = this.gradient().grads;
    this.hessianResult = this.timed('hessian', () => {
      const { net, x, target, loss } = this.inp;
      const ws = this.prunable.map((p) => this.lookup(p.name));
      const segments = this.segmentsFor('hessian');
      // A recomputing pass keeps its tangent convolutions for the recomputation (only convolutions run again).
      const tangents = segments && this.layers ? new LayerCache() : undefined;
      try {
        const hg = tf.grads(() => {
          const input: Dual = { v: x, t: null };
          const out = net.forward(new TangentOps(this.lookup, (name) => g.get(name), segments, { values: this.layers, tangents }), input);
          // L̇ = ⟨∂L/∂z, ż⟩, with ∂L/∂z by autodiff of the loss alone (itself differentiable again).
          const dLdz = tf.grad((z: tf.Tensor) => taskLoss(loss, z, target))(out.v);
          return out.t ? tf.sum(tf.mul(dLdz, out.t)) : tf.mul(tf.sum(dLdz), 0);
        })(ws);
        return new Map(this.prunable.map((p, i) => [p.name, hg[i]!]));
      } finally {
        tangents?.dispose();
      }
    });
    return this.hessianResult;
  }

  /** nwot's K: entry (i, j) counts the ReLU units on which samples i and j agree, over every ReLU call. */
  reluAgreement(): Float64Array {
    if (this.reluKernel) return this.reluKernel;
    this.reluKernel = this.timed('forward', () => {
      const b = this.batchSize;
      const k = new Float64Array(b * b);
      const countsByInput = new Map<number, Float64Array>();
      tf.tidy(() => {
        const onReluInput = (_name: string, input: tf.Tensor) => {
          // ReLU modules fed by the same tensor (NB201's edges leaving one node) add the same
          // agreement counts: compute them once per input, add them once per module call.
          let counts = countsByInput.get(input.id);
          if (!counts) {
            counts = agreementCounts(input.dataSync() as Float32Array, b);
            countsByInput.set(input.id, counts);
          }
          for (let i = 0; i < counts.length; i++) k[i]! += counts[i]!;
        };
        const ops = new TensorOps(this.lookup, { onReluInput }, undefined, { cache: this.layers });
        this.inp.net.forward(ops, this.inp.x);
      });
      return k;
    });
    return this.reluKernel;
  }

  /** J = ∂(Σ_{n,j} z_{n,j})/∂x as B rows of D float64 values (feature order does not matter). */
  inputJacobian(): Float64Array {
    if (this.jacobianRows) return this.jacobianRows;
    this.jacobianRows = this.timed('jacobian', () => {
      const { net, x } = this.inp;
      const segments = this.segmentsFor('jacobian');
      const j = tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(net.forward(new TensorOps(this.lookup, {}, segments, { cache: this.layers }), input)))(x));
      const rows = Float64Array.from(j.dataSync());
      j.dispose();
      return rows;
    });
    return this.jacobianRows;
  }

  zen(): { logDelta: number; bnLogRho: number } {
    if (this.zenResult) return this.zenResult;
    this.zenResult = this.timed('zen', () => {
      const draws = this.inp.zenDraws();
      const zenParams = (name: string): tf.Tensor => {
        const w = draws.weights.get(name);
        if (w) return w;
        return this.zenConstant(name);
      };
      const running = new Map<string, Float64Array>();
      const momentum = new Map(this.inp.batchNorms.map((b) => [b.name, b.momentum ?? 0.1]));
      const onBatchNormVariance = (name: string, variance: tf.Tensor, count: number) => {
        const v = variance.dataSync();
        let r = running.get(name);
        if (!r) running.set(name, (r = new Float64Array(v.length).fill(1)));
        // PyTorch's running variance update with the unbiased batch variance, at the module's
        // momentum (0.1; TNB-macro's shortcut BNs were built with 1).
        const m = momentum.get(name) ?? 0.1;
        for (let c = 0; c < v.length; c++) r[c] = (1 - m) * r[c]! + m * v[c]! * (count / (count - 1));
      };
      const delta = tf.tidy(() => {
        const mixed = tf.add(draws.input, tf.mul(draws.noise, tf.scalar(0.01)));
        const features = [draws.input, mixed].map((input) => {
          const ops = new TensorOps(zenParams, { onBatchNormVariance });
          this.inp.net.forward(ops, input);
          return ops.featureMap!;
        });
        const perSample = tf.sum(tf.abs(tf.sub(features[0]!, features[1]!)), [1, 2, 3]);
        return tf.mean(perSample).dataSync()[0]!;
      });
      let bnLogRho = 0;
      for (const { name } of this.inp.batchNorms) {
        const r = running.get(name);
        if (!r) continue; // never ran: running variance stays 1, ln √1 = 0
        let mean = 0;
        for (const v of r) mean += v;
        bnLogRho += Math.log(Math.sqrt(mean / r.length));
      }
      for (const t of this.zenConstants.values()) t.dispose();
      this.zenConstants.clear();
      return { logDelta: Math.log(delta), bnLogRho };
    });
    return this.zenResult;
  }

  private readonly zenConstants = new Map<string, tf.Tensor>();

  /**
   * zen sets conv/linear biases to 0 and batch norms to γ = 1, β = 0; modules it does not
   * re-initialise (ConvTranspose2d) keep their weights. Kept: first asked for inside an op's tidy.
   */
  private zenConstant(name: string): tf.Tensor {
    let t = this.zenConstants.get(name);
    if (t) return t;
    const spec = this.inp.params.find((p) => p.name === name);
    if (!spec) throw new Error(`no parameter ${name}`);
    if (spec.kind === 'conv_transpose' || spec.kind === 'conv_transpose_bias') return this.lookup(name);
    t = tf.keep(spec.kind === 'bn_gamma' ? tf.ones(spec.shape) : tf.zeros(spec.shape));
    this.zenConstants.set(name, t);
    return t;
  }

  /** synflow as ln-scale and sum: raw = exp(logScale) · sum. */
  synflow(): { logScale: number; sum: number } {
    if (this.synflowResult) return this.synflowResult;
    this.synflowResult = this.timed('synflow', () => {
      const { net } = this.inp;
      const abs = new Map<string, tf.Tensor>();
      for (const [name, t] of this.inp.weights) abs.set(name, tf.abs(t));
      const ones = tf.ones([1, ...net.inputShape]);
      const modules = this.prunable.map((p) => p.module);
      const probes = new Map(modules.map((m) => [m, tf.scalar(0)]));
      let outScale = 0;
      const ops = new SynflowOps((name) => abs.get(name)!, probes);
      const probeGrads = tf.grads(() => {
        const out = net.forward(ops, { t: ones, logScale: 0 } as ScaledTensor);
        outScale = Number.isFinite(out.logScale) ? out.logScale : 0;
        return tf.sum(out.t);
      })(modules.map((m) => probes.get(m)!));
      let sum = 0;
      for (const g of probeGrads) sum += g.dataSync()[0]!;
      for (const t of [...abs.values(), ...probes.values(), ...probeGrads, ones]) t.dispose();
      return { logScale: outScale, sum };
    });
    return this.synflowResult;
  }

  dispose(): void {
    for (const t of this.gradientResult?.grads.values() ?? []) t.dispose();
    for (const t of this.hessianResult?.values() ?? []) t.dispose();
    this.gradientResult = null;
    this.hessianResult = null;
    this.layers?.dispose();
  }
}

/**
 * nwot's counts for one ReLU input of b samples: entry (i, j) is the number of units where samples
 * i and j are both active or both inactive, c cᵀ + (1 − c)(1 − c)ᵀ with c = [x > 0]: the units minus
 * the Hamming distance of the samples' sign bits, 32 units to a word (exact integers, and ~5× faster
 * than the float matrix product on wasm).
 */
export function agreementCounts(x: ArrayLike<number>, b: number): Float64Array {
  const units = x.length / b;
  const words = Math.ceil(units / 32);
  const bits = new Int32Array(b * words);
  for (let i = 0; i < b; i++) {
    const row = i * units;
    const out = i * words;
    for (let u = 0; u < units; u++) if (x[row + u]! > 0) bits[out + (u >>> 5)]! |= 1 << (u & 31);
  }
  const counts = new Float64Array(b * b);
  for (let i = 0; i < b; i++) {
    counts[i * b + i] = units;
    for (let j = i + 1; j < b; j++) {
      let differ = 0;
      for (let w = 0, p = i * words, q = j * words; w < words; w++) differ += popcount(bits[p + w]! ^ bits[q + w]!);
      counts[i * b + j] = counts[j * b + i] = units - differ;
    }
  }
  return counts;
}

function popcount(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** Shape of fisher's gain on a layer output: one per sample and channel. */
function gainShape(outputShape: number[]): number[] {
  return outputShape.length === 4 ? [outputShape[0]!, 1, 1, outputShape[3]!] : outputShape;
}

/** fisher's Σ_k ½·mean_n(s_{n,k})², s_{n,k} = Σ_{h,w} A·∂L/∂A (the gradient of the layer's gain). */
function fisherSaliency(s: tf.Tensor): number {
  return tf.tidy(() => tf.sum(tf.mul(tf.mean(tf.square(tf.reshape(s, [s.shape[0]!, -1])), 0), 0.5)).dataSync()[0]!);
}
