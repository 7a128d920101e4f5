import { BUILT_IN_PROXIES, NEWER_PROXIES, PROXIES, type BuiltInProxyName } from '../src/core/names';
import { PASS_DEFINITIONS, PASSES, passClosure } from '../src/core/passes';
import { PROXY_DEFINITIONS, proxyNeedsTensors, proxyReadsData, SHAPE_ONLY_PROXIES } from '../src/core/proxies';

/**
 * The pass and proxy registries are the only tables: everything else (memory plan, which proxies
 * need tensors or the minibatch, the shape-only queue messages) is derived from the definitions.
 */
describe('pass registry', () => {
  test('each pass is registered once, under its own name, and its dependencies are registered passes', () => {
    const names = PASS_DEFINITIONS.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const pass of PASS_DEFINITIONS) {
      expect(PASSES[pass.name]).toBe(pass);
      for (const d of pass.dependencies) expect(PASS_DEFINITIONS as readonly unknown[]).toContain(d);
    }
  });

  test('the memory facts are consistent: forward-only passes recompute nothing; a pass with a backward over segments plans both copies', () => {
    for (const pass of PASS_DEFINITIONS) {
      expect(pass.forwardOnly && pass.recomputable).toBe(false);
      if (pass.recomputable) {
        expect(pass.memory.boundary).toBeGreaterThan(0);
        expect(pass.memory.segment).toBeGreaterThan(0);
      }
      // Passes without a run (build, data) are timed by the caller and hold no activations.
      if (!pass.run) expect(pass.memory).toEqual({ activation: 0, boundary: 0, segment: 0, loss: 0 });
    }
    expect(
      PASS_DEFINITIONS.filter((p) => p.recomputable)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['gradient', 'hessian', 'jacobian']);
    expect(
      PASS_DEFINITIONS.filter((p) => p.cached)
        .map((p) => p.name)
        .sort(),
    ).toEqual(['forward', 'gradient', 'hessian', 'jacobian']);
  });
});

describe('what a proxy reads is declared once and agrees with its passes', () => {
  test.each([...BUILT_IN_PROXIES])('%s', (name) => {
    const def = PROXY_DEFINITIONS[name as BuiltInProxyName];
    const closure = passClosure(def.passes);
    expect(def.name).toBe(name);
    for (const p of def.passes) expect(PASSES[p]).toBeDefined();
    // 'data' exactly when one of its passes runs on the minibatch; 'shapes' only from the build.
    expect(closure.has('data')).toBe(def.reads === 'data');
    if (def.reads === 'shapes') expect([...closure]).toEqual(['build']);
  });

  test('shape-only proxies, the minibatch readers and the tensor users are derived from the declarations', () => {
    expect([...SHAPE_ONLY_PROXIES].sort()).toEqual(['az_nas.complexity', 'flops', 'params']);
    expect(PROXIES.filter(proxyReadsData)).toEqual(['epe_nas', 'fisher', 'grad_norm', 'grasp', 'jacov', 'nwot', 'plain', 'snip']);
    expect(PROXIES.filter((p) => !proxyNeedsTensors(p))).toEqual(['flops', 'params']);
    expect(NEWER_PROXIES.filter(proxyReadsData)).toEqual(['meco', 'swap', 'zico']);
  });
});
