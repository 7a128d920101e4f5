import { constants, promises as fsp } from 'fs';
import { dirname, resolve } from 'path';
import { InputError } from '../errors';

/**
 * Create the output directory `dir` (and its missing parents), or fail at once with an error that
 * names it: an existing file in the way, a parent that cannot hold directories, no write access.
 * Parents are created one at a time, since a recursive mkdir under e.g. /proc can spin for minutes.
 */
export async function prepareOutputDir(dir: string, field: string): Promise<string> {
  const path = resolve(dir);
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    const stat = await fsp.stat(existing).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new InputError(field, dir, `cannot use ${existing}: ${err.code ?? err.message}`);
    });
    if (stat) {
      if (!stat.isDirectory()) throw new InputError(field, dir, `${existing} is a file, not a directory`);
      break;
    }
    missing.unshift(existing);
    if (dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  for (const p of missing) {
    await fsp.mkdir(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw new InputError(field, dir, `cannot create directory ${p}: ${err.code ?? err.message}`);
    });
  }
  await fsp.access(path, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(field, dir, `directory ${path} is not writable: ${err.code ?? err.message}`);
  });
  return path;
}
