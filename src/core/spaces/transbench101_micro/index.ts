import type { SearchSpace } from '../space';
import { enumerateTnbMicro, formatTnbMicro, parseTnbMicro, tnbMicroReadable, type TnbMicroArch } from './arch';
import { tnbMicroNetwork } from './network';

export * from './arch';
export { tnbMicroNetwork } from './network';
export { discriminatorParams, taskonomyNetwork, upsamplings, type TnbEncoder } from './taskonomy';

/** TransNAS-Bench-101 micro: 4,096 cells; Taskonomy tasks and the three 9x tasks (different conventions). */
export const transbench101Micro: SearchSpace<TnbMicroArch> = {
  name: 'transbench101_micro',
  parse: parseTnbMicro,
  format: formatTnbMicro,
  readable: tnbMicroReadable,
  enumerate: enumerateTnbMicro,
  size: 4096,
  network: tnbMicroNetwork,
};
