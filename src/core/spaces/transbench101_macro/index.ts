import type { SearchSpace } from '../space';
import { enumerateTnbMacro, formatTnbMacro, parseTnbMacro, tnbMacroString, type TnbMacroArch } from './arch';
import { tnbMacroNetwork } from './network';

export * from './arch';
export { tnbMacroNetwork } from './network';

/** TransNAS-Bench-101 macro: 3,256 residual skeletons, the 7 Taskonomy tasks. */
export const transbench101Macro: SearchSpace<TnbMacroArch> = {
  name: 'transbench101_macro',
  parse: parseTnbMacro,
  format: formatTnbMacro,
  readable: tnbMacroString,
  enumerate: enumerateTnbMacro,
  size: 3256,
  network: tnbMacroNetwork,
};
