import { readFileSync } from 'fs';
import { join } from 'path';

/**
 * The code version that goes into triple ids and manifests: the package version. A change to
 * the compute core that alters scores must bump it, so results of different code never mix.
 */
export const CODE_VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;
