import type { BuiltInProxyName } from '../names';
import type { ShapeOps } from '../nn/shape';
import type { PassName } from '../passes';
import type { Passes } from '../passes/passes';

/** What a proxy reads: the shared passes and the network's batch-1 shape trace. */
export interface ProxyContext {
  passes: Passes;
  trace: ShapeOps;
  /** Classes of the task's output (epe_nas). */
  outputs: number;
}

/** One zero-cost proxy: the passes it needs and how it reduces them to NASLib's raw value. */
export interface ProxyDefinition {
  /** A built-in proxy's NASLib name, or a user module's own (docs/writing-a-proxy.md). */
  name: BuiltInProxyName | (string & {});
  /** Passes it reads (their dependencies are added); their times sum to what it costs alone. */
  passes: PassName[];
  /**
   * What its value depends on besides the architecture: 'shapes' (the network's shapes only: no
   * tensors, the worker runs it in its own process), 'weights' (the initial weights or its own
   * draws, not the minibatch's values) or 'data' (weights and the minibatch).
   */
  reads: 'shapes' | 'weights' | 'data';
  /** The raw value NASLib's measure returns, before post-processing. */
  raw(ctx: ProxyContext): number;
  /** synflow's post-processing works in log space (its raw value overflows float64 too). */
  score?(ctx: ProxyContext): number;
}

/** NASLib's post-processing (ZeroCost.query): NaN or ±∞ → −1e8. */
export function sanitize(value: number): number {
  return Number.isFinite(value) ? value : -1e8;
}
