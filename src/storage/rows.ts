import { z } from 'zod';
import { COLUMN_PROXIES, isBuiltInColumn, MODULE_NAME_PATTERN, SPACES, TASKS, type SpaceName, type TaskName } from '../core/names';

/**
 * One triple's outcome: the unit the workers emit, the aggregator merges, and every published
 * artifact (NASLib json, Parquet long table) is made of. The one schema of a row: the aggregator
 * validates every row it takes from a results stream with it.
 */
/** Any JS number, NaN and ±Infinity included: imported scores keep Python's -Infinity / NaN. */
export const anyNumber = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });

export const ResultRowSchema = z
  .object({
    /** Deterministic id of (dataset, space, task, arch, proxy, seed, requested batch size, fingerprint, data identity). */
    tripleId: z.string().min(1),
    space: z.enum(SPACES),
    task: z.enum(TASKS),
    arch: z.string().min(1),
    /** A built-in column, or a user module's name (docs/writing-a-proxy.md). */
    proxy: z.union([z.enum(COLUMN_PROXIES), z.string().regex(MODULE_NAME_PATTERN)]),
    /** The sha256 of the module's bundle (`plugins/<sha256>.js`): present exactly when `proxy` is a module's. */
    module: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    seed: z.number().int(),
    /** The batch size actually used (a last retry may halve the requested one); 0 for imported rows. */
    batchSize: z.number().int().nonnegative(),
    status: z.enum(['ok', 'failed']),
    /** Post-processed score; null when failed. */
    score: anyNumber.nullable(),
    /** Seconds; null when failed. */
    time: anyNumber.nullable(),
    /** Why it failed (status 'failed'). */
    reason: z.string().optional(),
    /**
     * Backend that computed it ('node', 'wasm', 'hybrid', 'cpu'; 'wasm:N' when its backward passes split
     * the minibatch between N wasm heaps), 'none' when it failed before computing, or 'imported'.
     */
    backend: z.string().min(1),
    /** 'synthetic', a data path, or for imported rows the file they came from. */
    dataSource: z.string(),
    dataSha256: z.string(),
    /** The compute fingerprint of the code that made it (src/version.ts), or 'naslib' for imported rows. */
    fingerprint: z.string().min(1),
    /**
     * NASLib's architecture id (`idx` in the zc_<space>.json files): the key of `arch` in NASLib's
     * archs_<space>.json when the producer knows it, or an imported file's `idx` verbatim.
     */
    archIdx: z.string().optional(),
  })
  .strict()
  .refine((r) => r.status !== 'ok' || r.score !== null, { message: 'an ok row needs a score', path: ['score'] })
  .refine((r) => isBuiltInColumn(r.proxy) || r.module !== undefined, {
    message: `a built-in proxy (${COLUMN_PROXIES.join(', ')}), or a user module's name with the module's sha256 in \`module\``,
    path: ['proxy'],
  })
  .refine((r) => !isBuiltInColumn(r.proxy) || r.module === undefined, { message: "only a user module's row names a module", path: ['module'] });
export type ResultRow = z.infer<typeof ResultRowSchema>;

/** Ground truth per (space, task, arch), kept apart from proxy rows. */
export interface GroundTruthRow {
  space: SpaceName;
  task: TaskName;
  arch: string;
  valAccuracy: number;
  /** Where it came from, e.g. the imported file name. */
  origin: string;
}

/**
 * The one rule for several `ok` rows of the same (space, task, arch, proxy) (other seeds, batch
 * sizes or code versions): the row with the smallest (seed, batch size, triple id) is the value.
 * Deterministic and independent of row order, so every reader picks the same score.
 */
export function rowPrecedes(a: Pick<ResultRow, 'seed' | 'batchSize' | 'tripleId'>, b: Pick<ResultRow, 'seed' | 'batchSize' | 'tripleId'>): boolean {
  if (a.seed !== b.seed) return a.seed < b.seed;
  if (a.batchSize !== b.batchSize) return a.batchSize < b.batchSize;
  return a.tripleId < b.tripleId;
}
