import { InputError } from '../../errors';
import type { SpaceName, TaskName } from '../names';
import { nasbench101 } from './nasbench101';
import { nasbench201 } from './nasbench201';
import { nasbench301 } from './nasbench301';
import { transbench101Macro } from './transbench101_macro';
import { transbench101Micro } from './transbench101_micro';
import type { SearchSpace } from './space';

export type { SearchSpace } from './space';

/** Registry of implemented search spaces (the others arrive with their folders). */
const SPACES_IMPLEMENTED: Partial<Record<SpaceName, SearchSpace>> = {
  nasbench101: nasbench101 as SearchSpace,
  nasbench201: nasbench201 as SearchSpace,
  nasbench301: nasbench301 as SearchSpace,
  transbench101_micro: transbench101Micro as SearchSpace,
  transbench101_macro: transbench101Macro as SearchSpace,
};

export function searchSpace(name: SpaceName): SearchSpace {
  const space = SPACES_IMPLEMENTED[name];
  if (!space) {
    throw new InputError('space', name, `implemented: ${Object.keys(SPACES_IMPLEMENTED).join(', ')}`);
  }
  return space;
}

/** `arch` in the space's NASLib key form, or undefined when it is not an architecture of the space. */
export function canonicalArch(space: SpaceName, arch: string): string | undefined {
  const s = searchSpace(space);
  try {
    return s.format(s.parse(arch));
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}

/** The space's readable form of a key (see SearchSpace.readable), or undefined when `arch` does not parse. */
export function readableArch(space: SpaceName, arch: string, task: TaskName): string | undefined {
  const s = searchSpace(space);
  try {
    return s.readable(s.parse(arch), task);
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}
