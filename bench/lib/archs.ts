/** The released architecture lists the benchmarks draw from (test/fixtures/reference, NAS-Bench-Suite-Zero, Apache-2.0). */
import { readFileSync } from 'fs';
import { join } from 'path';
import type { SpaceName, TaskName } from '../../src/core/names';

const FIXTURES = join(__dirname, '..', '..', 'test', 'fixtures', 'reference');
const EXTRA_TASKS: ReadonlySet<TaskName> = new Set(['svhn', 'ninapro', 'scifar100']);

/** The released architecture list a (space, task) draws from (the 9x lists for the extra tasks). */
export function architectures(space: SpaceName, task: TaskName): string[] {
  const list = (file: string) => Object.values(JSON.parse(readFileSync(join(FIXTURES, `${file}.json`), 'utf8'))) as string[];
  switch (space) {
    case 'nasbench101':
      return Object.keys(JSON.parse(readFileSync(join(FIXTURES, 'zc_nasbench101_subset.json'), 'utf8')).nasbench101.cifar10);
    case 'nasbench201':
      return list(EXTRA_TASKS.has(task) ? 'archs_nasbench2019x' : 'archs_nasbench201');
    case 'nasbench301':
      return list(EXTRA_TASKS.has(task) ? 'archs_nasbench3019x' : 'archs_nasbench301');
    case 'transbench101_micro':
      return list(EXTRA_TASKS.has(task) ? 'archs_transbench101_micro9x' : 'archs_transbench101_micro');
    case 'transbench101_macro':
      return list('archs_transbench101_macro');
  }
}

/** First, middle and last of the list (or n spread evenly): deterministic, and unlike each other. */
export function pick(list: string[], n: number): string[] {
  if (n >= list.length) return list;
  return Array.from({ length: n }, (_, i) => list[Math.round((i * (list.length - 1)) / Math.max(1, n - 1))]!);
}
