import type { SpaceName, TaskName } from '../names';
import type { NetworkDef } from '../nn/ops';
import type { TaskSpec } from '../tasks';

/** What every search space folder exports: parse, canonical form, enumeration, network builder. */
export interface SearchSpace<A = unknown> {
  name: SpaceName;
  /** Parse an architecture string as NASLib's files write it; InputError naming `field` otherwise. */
  parse(text: string, field?: string): A;
  /** The canonical NASLib key string. */
  format(arch: A): string;
  /**
   * The space's own readable form (NB201 API string, DARTS genotype, NB101 matrix + ops, TNB op
   * names); `task` matters where one key means different cells per task (TNB micro).
   */
  readable(arch: A, task: TaskName): string;
  /** Every architecture of the space, when it is small enough to enumerate. */
  enumerate?(): Iterable<string>;
  /** Size of the space when enumerable. */
  size?: number;
  network(arch: A, task: TaskSpec): NetworkDef;
}
