import { readFileSync } from 'fs';
import { join } from 'path';
import { tf } from '../../src/core/backend';
import { evaluateProxies, type ProxyValue } from '../../src/core/evaluate';
import { targetTensor } from '../../src/core/loss';
import type { ProxyName, TaskName } from '../../src/core/names';
import { traceShapes } from '../../src/core/nn/shape';
import { readSafetensors, type StoredTensor } from '../../src/core/safetensors';
import { nasbench201 } from '../../src/core/spaces/nasbench201';
import { taskSpec } from '../../src/core/tasks';

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures', 'nb201');
export const FIXTURE_CASES = ['cifar10_023231', 'cifar10_403143', 'cifar10_111111', 'ImageNet16-120_232023'];

export interface FixtureCase {
  case: string;
  arch: string;
  dataset: TaskName;
  num_classes: number;
  proxies: Record<ProxyName, { value: number; raw: number | string; tolerance: { rel?: number; abs?: number } }>;
}

/** PyTorch layout → TF.js layout: conv OIHW → HWIO, linear [out, in] → [in, out], images NCHW → NHWC. */
export function toTf(t: StoredTensor, kind: 'conv' | 'linear' | 'image' | 'vector'): tf.Tensor {
  const x = tf.tensor(t.data, t.shape, t.dtype === 'F32' ? 'float32' : 'int32');
  const perm = kind === 'conv' ? [2, 3, 1, 0] : kind === 'linear' ? [1, 0] : kind === 'image' ? [0, 2, 3, 1] : null;
  if (!perm) return x;
  const y = tf.transpose(x, perm);
  x.dispose();
  return y;
}

/** A safetensors file's tensors by name; a missing one is an error naming the case. */
export function readTensors(path: string, name: string): (key: string) => StoredTensor {
  const { tensors } = readSafetensors(readFileSync(path), name);
  return (key) => {
    const t = tensors.get(key);
    if (!t) throw new Error(`${name}: no tensor ${key}`);
    return t;
  };
}

/** A golden fixture's network with its stored weights and minibatch, as tensors (`dispose` frees them). */
export function loadFixtureCase(name: string, dir = FIXTURE_DIR) {
  const fixture = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as FixtureCase;
  const get = readTensors(join(dir, `${name}.safetensors`), name);
  const task = taskSpec(fixture.dataset);
  const net = nasbench201.network(nasbench201.parse(fixture.arch), task);
  const trace = traceShapes(net, 1);
  const weights = new Map(trace.params.map((p) => [p.name, toTf(get(p.name), tfKindOf(p))]));
  const x = toTf(get('input'), 'image');
  const target = targetTensor({ kind: 'class', labels: Int32Array.from(get('labels').data as Int32Array) }, task.outputs);
  const dispose = () => {
    for (const t of [...weights.values(), x, target.values]) t.dispose();
  };
  return { fixture, get, task, net, trace, weights, x, target, dispose };
}

export function tfKindOf(p: { kind: string }): 'conv' | 'linear' | 'vector' {
  return p.kind === 'conv' ? 'conv' : p.kind === 'linear' ? 'linear' : 'vector';
}

/**
 * Evaluate proxies on a golden fixture's stored weights, batch and (made only when zen asks for them)
 * zen draws; `dir` is the fixture set's folder.
 */
export function evaluateFixture(
  name: string,
  proxies: ProxyName[],
  dir = FIXTURE_DIR,
): { fixture: FixtureCase; values: Partial<Record<ProxyName, ProxyValue>> } {
  const { fixture, get, task, net, trace, weights, x, target, dispose } = loadFixtureCase(name, dir);
  const zenTensors: tf.Tensor[] = [];
  const zenDraws = () => {
    const zenWeights = new Map(trace.params.filter((p) => p.prunable).map((p) => [p.name, toTf(get(`zen.param.${p.name}`), tfKindOf(p))]));
    const input = toTf(get('zen.input'), 'image');
    const noise = toTf(get('zen.mixup_noise'), 'image');
    zenTensors.push(...zenWeights.values(), input, noise);
    return { weights: zenWeights, input, noise };
  };
  try {
    const values = evaluateProxies(
      { net, loss: task.loss, outputs: task.outputs, trace, weights, x, target, zenDraws, buildSeconds: 0, dataSeconds: 0 },
      proxies,
    );
    return { fixture, values };
  } finally {
    dispose();
    for (const t of zenTensors) t.dispose();
  }
}

/** The fixtures' acceptance rule: |got − value| ≤ max(abs, rel·|value|). */
export function withinTolerance(got: number, value: number, tol: { rel?: number; abs?: number }): boolean {
  return Math.abs(got - value) <= Math.max(tol.abs ?? 0, (tol.rel ?? 0) * Math.abs(value));
}
