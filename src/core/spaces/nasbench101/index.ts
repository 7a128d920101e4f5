import type { SearchSpace } from '../space';
import { formatNb101, nb101Readable, parseNb101, type Nb101Arch } from './arch';
import { nb101Network } from './network';

export * from './arch';
export { nb101Network } from './network';

/** NAS-Bench-101 (423,624 cells: not enumerated; NASLib scored 10,000 random cells). */
export const nasbench101: SearchSpace<Nb101Arch> = {
  name: 'nasbench101',
  parse: parseNb101,
  format: formatNb101,
  readable: nb101Readable,
  network: nb101Network,
};
