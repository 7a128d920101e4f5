/**
 * The public API of a user proxy module (docs/writing-a-proxy.md): what a module may import. A module
 * exports a ProxyDefinition; these are the passes it may name and read, and the helpers it may use.
 */
export { tf } from './core/backend';
export type { ParamSpec } from './core/nn/params';
export type { ShapeOps } from './core/nn/shape';
export { build } from './core/passes/build';
export { channelCorrelation } from './core/passes/channel_correlation';
export { data } from './core/passes/data';
export { forward } from './core/passes/forward';
export { gradient } from './core/passes/gradient';
export { gradients } from './core/passes/gradients';
export { jacobian } from './core/passes/jacobian';
export { reluPatterns } from './core/passes/relu_patterns';
export type { PassName } from './core/passes';
export type { Passes } from './core/passes/passes';
export { sanitize, type ProxyContext, type ProxyDefinition } from './core/proxies/proxy';
export { sumOverLayers } from './core/proxies/sums';
