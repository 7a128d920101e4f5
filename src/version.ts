import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { dirname, join, relative, sep } from 'path';
import { backendSettings } from './config';
import { backendFamily, type BackendName } from './core/backend-family';
import { InputError } from './errors';

/**
 * The compute fingerprint: what made a score. It changes whenever anything that can change a score
 * changes: the compute core's sources (every file under src/core), the resolved versions of the
 * installed @tensorflow/* packages (tfjs-node included when present), and the backend family the
 * process computes with (a run-time fact: ZC_BACKEND, else node where tfjs-node's binding is
 * installed, else wasm). Triple ids, rows, payloads and manifests carry its `id`.
 */
export interface ComputeFingerprint {
  /** `<16 hex of sha256 over the parts>-<backend family>`, e.g. `3f09c2d1a4b5e6f7-wasm`. */
  id: string;
  /** sha256 over src/core's files (relative path and content sha256 of each, sorted by path). */
  core: string;
  /** Installed @tensorflow/* package → resolved version. */
  tfjs: Record<string, string>;
  backend: BackendName;
}

/** Written by `npm run build` next to the compiled code: the digest of the src/core it was compiled from. */
export const CORE_DIGEST_FILE = 'fingerprint.json';

/** sha256 over every file under `dir`: its path relative to `dir` (with `/`) and its content's sha256, in path order. */
export function coreSourceDigest(dir: string): string {
  const files = listFiles(dir)
    .map((f) => relative(dir, f).split(sep).join('/'))
    .sort();
  const h = createHash('sha256');
  for (const rel of files)
    h.update(
      `${rel}\u0000${createHash('sha256')
        .update(readFileSync(join(dir, rel)))
        .digest('hex')}\n`,
    );
  return h.digest('hex');
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** The build step: record the digest of `coreDir` (src/core) in `outFile` (dist/fingerprint.json). */
export function writeCoreDigest(coreDir: string, outFile: string): void {
  writeFileSync(outFile, JSON.stringify({ core: coreSourceDigest(coreDir) }) + '\n');
}

/**
 * The core's digest: compiled, from the file the build wrote (dist/ holds no sources); from source
 * (tsx, ts-jest), computed from src/core. Both give the same value for the same sources.
 */
function coreDigest(): string {
  const recorded = join(__dirname, CORE_DIGEST_FILE);
  if (existsSync(recorded)) return (JSON.parse(readFileSync(recorded, 'utf8')) as { core: string }).core;
  if (__filename.endsWith('.js')) {
    throw new InputError(CORE_DIGEST_FILE, recorded, 'the file `npm run build` writes next to the compiled code (run it again)');
  }
  return coreSourceDigest(join(__dirname, 'core'));
}

/** Installed @tensorflow/* packages → version, read from their package.json files. */
export function tfjsVersions(): Record<string, string> {
  const scope = dirname(dirname(require.resolve('@tensorflow/tfjs-core/package.json')));
  const out: Record<string, string> = {};
  for (const name of readdirSync(scope).sort()) {
    const manifest = join(scope, name, 'package.json');
    if (existsSync(manifest)) out[`@tensorflow/${name}`] = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  }
  return out;
}

const memo = new Map<string, ComputeFingerprint>();

/** This process's fingerprint for a backend family (default: the one it computes with). Memoised. */
export function localFingerprint(backend: BackendName = backendFamily(backendSettings().backend)): ComputeFingerprint {
  let fp = memo.get(backend);
  if (!fp) {
    const core = coreDigest();
    const tfjs = tfjsVersions();
    const hash = createHash('sha256').update(JSON.stringify({ core, tfjs, backend })).digest('hex').slice(0, 16);
    memo.set(backend, (fp = { id: `${hash}-${backend}`, core, tfjs, backend }));
  }
  return fp;
}

/** zcbench's package version (Parquet's `created_by`): not an identity of results, the fingerprint is. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
