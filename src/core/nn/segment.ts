import { tf } from '../backend';
import { runCustomNode } from '../kernels/util';
import { gradients } from './backprop';

/**
 * Recomputed segments ("gradient checkpointing"). A segment is a piece of a network (a cell, a
 * residual block, a decoder layer) that a backward pass does not keep: its forward runs off the
 * tape, only its inputs are saved, and when the backward reaches it the forward is run again on
 * those inputs, on a tape of its own, and differentiated there. The peak of a pass then holds the
 * segment boundaries plus one segment's activations, instead of every activation, for one extra
 * forward: what keeps batch-64 jobs within wasm's 4 GiB, and the Taskonomy networks' grasp at
 * batch 32 within a machine's memory (on the hybrid backend).
 */

/** What a segment's recomputation reads besides its inputs, from a shape trace. */
export interface SegmentInfo {
  /** Parameter names used inside the segment. */
  params: string[];
  /** Module names inside the segment (fisher's probes are per module). */
  modules: string[];
}

export type SegmentIndex = ReadonlyMap<string, SegmentInfo>;

/** Parameters by name for a segment's recomputation: `values` are the node's arguments for `info.params`, in order. */
export function segmentParams(segment: string, info: SegmentInfo, values: tf.Tensor[]): (name: string) => tf.Tensor {
  const byName = new Map(info.params.map((p, i) => [p, values[i]!]));
  return (name) => {
    const t = byName.get(name);
    if (!t) throw new Error(`segment ${segment} reads ${name}, which its shape trace did not record`);
    return t;
  };
}

/** The engine state a nested backward must leave as it found it (tfjs keeps one tape per engine). */
interface EngineTapeState {
  state: { activeTape: unknown; gradientDepth: number };
}

/**
 * `run(args)` as one tape node whose gradient recomputes `run` (first-order reverse mode only).
 * Every tensor the segment's outputs depend on must be in `args`: parameters too, since the
 * recomputation differentiates with respect to exactly these. Several outputs are allowed (a dual
 * value and tangent): each is stored once, nothing is stacked.
 */
export function recomputed(run: (args: tf.Tensor[]) => tf.Tensor[], args: tf.Tensor[]): tf.Tensor[] {
  return runCustomNode({
    forwardFunc: (_backend, save) => {
      save(args);
      // A segment that passes an input through (a skip edge) must still output a tensor of its own:
      // the tape would otherwise see one tensor as both the node's input and its output.
      return run(args).map((out) => (args.includes(out) ? tf.clone(out) : out));
    },
    backwardsFunc: (dy, saved) => {
      const grads = segmentVjp(run, saved, Array.isArray(dy) ? dy : [dy]);
      return Object.fromEntries(grads.map((g, i) => [String(i), () => g]));
    },
    inputs: Object.fromEntries(args.map((a, i) => [String(i), a])),
  });
}

/** Σ_i dy_i·∂run_i/∂args by a forward on a fresh tape: the outer backward's tape is restored afterwards. */
function segmentVjp(run: (args: tf.Tensor[]) => tf.Tensor[], saved: tf.Tensor[], dys: tf.Tensor[]): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineTapeState;
  if (engine.state.gradientDepth > 0) {
    throw new Error('a recomputed segment was differentiated twice: segments support first-order gradients only');
  }
  const outerTape = engine.state.activeTape;
  try {
    const objective = () => {
      const outs = run(saved);
      // ⟨out_i, dy_i⟩ summed: its gradient is the vector-Jacobian product of every output at once.
      const terms = outs.map((o, i) => tf.sum(tf.mul(o, dys[i]!)));
      return terms.length === 1 ? terms[0]! : tf.addN(terms);
    };
    const { value, grads } = gradients(objective, saved, undefined, true);
    value.dispose();
    return grads.map((g, i) => g ?? tf.zerosLike(saved[i]!));
  } finally {
    engine.state.activeTape = outerTape;
  }
}
