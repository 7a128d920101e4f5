import { relative } from 'path';
import { z } from 'zod';
import { SECOND_MINIBATCH_STREAM } from '../core/compute';
import { listSourceFiles, loadMinibatch } from '../core/data';
import { encodeMinibatch } from '../core/data/minibatch-object';
import { TASKS, type TaskName } from '../core/names';
import { Rng } from '../core/rng';
import { InputError, NotFoundError } from '../errors';
import { SHA256_PATTERN, type ObjectStore } from './objects';

/**
 * Named sets of drawn minibatches (`zcbench data add`): each minibatch is one content-addressed
 * safetensors object `data/<sha256>`; `data/<name>/manifest.json` says which object is which
 * seed's, and where they came from. Workers fetch a job's minibatch by its sha256 and never read the source.
 */
const DATA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ObjectRef = z.object({ sha256: z.string().regex(SHA256_PATTERN), bytes: z.number().int().positive() }).strict();

export const DataManifestSchema = z
  .object({
    name: z.string().regex(DATA_NAME),
    task: z.enum(TASKS),
    batchSize: z.number().int().positive(),
    /** The source as `dataIdentity` names it (`sha256:` + source digest) and its files. */
    source: z.object({ sha256: z.string(), files: z.array(z.object({ path: z.string(), sha256: z.string() })) }),
    transform: z.string(),
    shape: z.array(z.number().int().positive()),
    createdAt: z.string(),
    /** seed → its minibatch (stream `data`) and second minibatch (stream `data/minibatch1`, zico and swap). */
    seeds: z.record(z.string().regex(/^\d+$/), z.object({ minibatch: ObjectRef, second: ObjectRef }).strict()),
  })
  .strict();
export type DataManifest = z.infer<typeof DataManifestSchema>;

/** What every drawn minibatch went through (docs/data.md): NASLib's train split and training transform. */
export const NASLIB_TRANSFORM = 'naslib-train: first 70% of train indices, seeded permutation head, pad+crop+flip, normalise';

export function dataManifestKey(name: string): string {
  if (!DATA_NAME.test(name)) throw new InputError('name', name, `letters, digits, '_', '.', '-' (pattern ${DATA_NAME.source})`);
  // A name spelled like a sha256 would sit beside the minibatch objects `data/<sha256>`.
  if (SHA256_PATTERN.test(name)) throw new InputError('name', name, 'not 64 hex digits (the form of the minibatch objects under data/)');
  return `data/${name}/manifest.json`;
}

export interface AddDataOptions {
  name: string;
  task: TaskName;
  from: string;
  seeds: number[];
  batchSize: number;
}

/** Draws each seed's minibatches from the local source, uploads them, then writes the manifest (last, so it never names a missing object). */
export async function addDataSet(store: ObjectStore, opts: AddDataOptions, now = new Date()): Promise<DataManifest> {
  const key = dataManifestKey(opts.name);
  const seeds: DataManifest['seeds'] = {};
  let first: Awaited<ReturnType<typeof loadMinibatch>> | null = null;
  const read = new Map<string, string>();
  for (const seed of opts.seeds) {
    const rng = new Rng(seed);
    const draw = (stream: string) => loadMinibatch({ source: 'path', path: opts.from }, { task: opts.task, batchSize: opts.batchSize, rng: rng.fork(stream) });
    const put = async (batch: Awaited<ReturnType<typeof loadMinibatch>>, stream: string) => {
      for (const f of batch.files ?? []) read.set(relative(opts.from, f.path), f.sha256);
      const r = await store.putObject(encodeMinibatch(batch, { task: opts.task, seed: String(seed), stream, source: batch.sha256 }), 'minibatch');
      return { sha256: r.sha256, bytes: r.bytes };
    };
    const a = await draw('data');
    first ??= a;
    seeds[String(seed)] = { minibatch: await put(a, 'data'), second: await put(await draw(SECOND_MINIBATCH_STREAM), SECOND_MINIBATCH_STREAM) };
  }
  if (!first) throw new InputError('seeds', opts.seeds, 'at least one seed');
  const manifest: DataManifest = {
    name: opts.name,
    task: opts.task,
    batchSize: opts.batchSize,
    source: { sha256: `sha256:${first.sha256}`, files: [] },
    transform: NASLIB_TRANSFORM,
    shape: first.inputShape,
    createdAt: now.toISOString(),
    seeds,
  };
  // A Taskonomy folder is too large to hash whole: its manifest lists the files the minibatches read.
  manifest.source.files =
    read.size > 0
      ? [...read].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, sha256]) => ({ path, sha256 }))
      : await listSourceFiles(opts.from, opts.task);
  await store.putKey(key, JSON.stringify(manifest, null, 2));
  return manifest;
}

export async function readDataManifest(store: ObjectStore, name: string): Promise<DataManifest> {
  const body = await store.getKey(dataManifestKey(name));
  if (!body) throw new NotFoundError(`no data set ${JSON.stringify(name)} (zcbench data add ${name} --task T --from PATH)`);
  return DataManifestSchema.parse(JSON.parse(body.toString('utf8')));
}

export async function listDataSets(store: ObjectStore): Promise<DataManifest[]> {
  const { prefixes } = await store.list('data/', '/');
  const names = prefixes.map((p) => p.slice('data/'.length).replace(/\/$/, '')).sort();
  return Promise.all(names.map((n) => readDataManifest(store, n)));
}
