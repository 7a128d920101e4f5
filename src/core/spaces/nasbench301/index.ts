import type { SearchSpace } from '../space';
import { formatNb301, nb301Genotype, parseNb301, type Nb301Arch } from './arch';
import { nb301Network } from './network';

export * from './arch';
export { nb301Network } from './network';

/** NAS-Bench-301 (DARTS space, ≈10^18 genotypes: not enumerated; NASLib scored 11,221). */
export const nasbench301: SearchSpace<Nb301Arch> = {
  name: 'nasbench301',
  parse: parseNb301,
  format: formatNb301,
  readable: nb301Genotype,
  network: nb301Network,
};
