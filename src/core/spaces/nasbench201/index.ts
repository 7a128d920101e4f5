import type { SearchSpace } from '../space';
import { enumerateNb201, formatNb201, nb201String, parseNb201, type Nb201Arch } from './arch';
import { nb201Network } from './network';

export * from './arch';
export { nb201Network } from './network';

export const nasbench201: SearchSpace<Nb201Arch> = {
  name: 'nasbench201',
  parse: parseNb201,
  format: formatNb201,
  readable: nb201String,
  enumerate: enumerateNb201,
  size: 15625,
  network: nb201Network,
};
