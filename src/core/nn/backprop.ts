import { tf } from '../backend';

/**
 * Reverse mode that frees as it goes. tfjs' engine.gradients keeps every node's saved tensors and
 * every intermediate gradient until the whole backward ends, so a backward's peak holds the forward's
 * activations plus a gradient for each of them. Here, as in PyTorch (retain_graph=False), a node's
 * saved tensors and its outputs' gradients are disposed as soon as the node is differentiated: the
 * peak is the forward's activations plus the gradients at the frontier. Same nodes, same order, same
 * arithmetic: the results are bit-identical to tf.grads. Inside another gradient (a higher-order
 * tape) nothing is freed early, as the outer tape may still read it.
 */

/** A node of tfjs' tape (engine internals, stable across tfjs 4). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

export interface Gradients {
  value: tf.Tensor;
  grads: tf.Tensor[];
}

/**
 * f's value and the gradients of its sum weighted by `dy` (default ones) with respect to `xs`, as
 * engine.gradients returns them. `allowNoGradients`: an x that f does not reach gets no gradient
 * (undefined, as in tfjs) instead of an error.
 */
export function gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients = false): Gradients {
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs');
  const e = engine();
  const y = e.scopedRun(
    () => e.startTape(),
    () => e.endTape(),
    () => tf.tidy('forward', f),
  );
  if (!(y instanceof tf.Tensor)) throw new Error('the result y returned by f() must be a tensor');
  const tape = filteredTape(e.state.activeTape ?? [], xs, y);
  if (!allowNoGradients && tape.length === 0) {
    throw new Error('cannot compute the gradient of y = f(x) with respect to x: f must enclose every op from x to y');
  }
  const freeing = e.state.gradientDepth === 0;
  const grads = tf.tidy('backward', () => {
    const acc = new Map<number, tf.Tensor>([[y.id, dy ?? tf.onesLike(y)]]);
    // An x's gradient is the result; the caller's dy is the caller's.
    const keep = new Set<number>([...xs.map((x) => x.id), ...(dy ? [y.id] : [])]);
    for (let i = tape.length - 1; i >= 0; i--) backpropNode(tape[i]!, acc, keep, freeing);
    return xs.map((x) => acc.get(x.id)!);
  });
  if (freeing) {
    for (const node of e.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    e.state.activeTape = null;
  }
  return { value: y, grads };
}

/** The gradients of f's value (disposed) with respect to `xs`. */
export function grads(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): tf.Tensor[] {
  const { value, grads: out } = gradients(f, xs, dy);
  value.dispose();
  return out;
}

/** The gradient of f(x)'s sum with respect to x. */
export function grad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  return grads(() => f(x), [x])[0]!;
}

/**
 * One node: its inputs' gradients accumulated into `acc`, then (when `freeing`) its outputs'
 * gradients and its saved tensors disposed, except the gradients of the tensors in `keep`.
 */
function backpropNode(node: TapeNode, acc: Map<number, tf.Tensor>, keep: Set<number>, freeing: boolean): void {
  if (!node.gradient) throw new Error(`cannot compute gradient: gradient function not found for ${node.kernelName}`);
  const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
  const before = new Map<number, tf.Tensor>();
  for (const x of Object.values(node.inputs)) if (acc.has(x.id) && !before.has(x.id)) before.set(x.id, acc.get(x.id)!);
  const names = Object.keys(node.inputs);
  const updated = tf.tidy(() => {
    const inputGradients = node.gradient!(dys);
    for (const name of names) {
      if (!(name in inputGradients)) throw new Error(`cannot backprop through input ${name} of ${node.kernelName}`);
      // Each input's gradient in a scope of its own (as tfjs does): its temporaries go before the next's.
      const dx = tf.tidy(() => inputGradients[name]!());
      const x = node.inputs[name]!;
      if (dx.dtype !== 'float32') throw new Error(`the gradient of ${node.kernelName}'s input ${name} must be float32, not ${dx.dtype}`);
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`the gradient of ${node.kernelName}'s input ${name} has shape [${dx.shape}], not its input's [${x.shape}]`);
      }
      const current = acc.get(x.id);
      acc.set(x.id, current ? tf.add(current, dx) : dx);
    }
    return [...new Set(names.map((n) => node.inputs[n]!.id))].map((id) => acc.get(id)!);
  });
  if (!freeing) return;
  const live = new Set(updated);
  // A gradient replaced by its sum with this node's contribution.
  for (const [id, old] of before) if (acc.get(id) !== old) old.dispose();
  node.outputs.forEach((o, k) => {
    const g = dys[k];
    if (!g || keep.has(o.id) || live.has(g)) return;
    acc.delete(o.id);
    g.dispose();
  });
  for (const t of node.saved ?? []) if (!live.has(t)) t.dispose();
}

/**
 * The nodes on a path from an x to y, each with only the inputs that come from an x (tfjs'
 * getFilteredNodesXToY, tape.ts, Apache-2.0: not exported by tfjs-core).
 */
function filteredTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const input of Object.values(node.inputs)) toY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((node) => nodesFromX.has(node.id) && nodesToY.has(node.id))
    .map((node) => ({ ...node, inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, input]) => fromX.has(input.id))) }));
}
