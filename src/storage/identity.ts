import { randomBytes } from 'crypto';
import { z } from 'zod';
import type { ObjectStore } from './objects';

/** The store's identity: a random id kept in the bucket, so a fresh store (a new folder, a new bucket) is another store. */
export const STORE_IDENTITY_KEY = 'zcbench-store.json';

const IdentitySchema = z.object({ id: z.string().regex(/^[0-9a-f]{32}$/) });
const known = new WeakMap<ObjectStore, string>();

/** The store's id, created on first use (two first users at once: both read back whichever write landed last). */
export async function storeIdentity(store: ObjectStore): Promise<string> {
  const cached = known.get(store);
  if (cached) return cached;
  const read = async (): Promise<string | undefined> => {
    const bytes = await store.getKey(STORE_IDENTITY_KEY);
    if (bytes === null) return undefined;
    try {
      return IdentitySchema.parse(JSON.parse(bytes.toString('utf8'))).id;
    } catch {
      return undefined;
    }
  };
  let id = await read();
  if (id === undefined) {
    await store.putKey(STORE_IDENTITY_KEY, JSON.stringify({ id: randomBytes(16).toString('hex'), createdAt: new Date().toISOString() }) + '\n');
    id = (await read())!;
  }
  known.set(store, id);
  return id;
}
