import type { Redis } from 'ioredis';
import { tokenCounterKey, tryLock } from '../src/queue/lock';
import { testRedis, uniquePrefix } from './helpers/pipeline';

/** Build and publish locks: fencing tokens, and a holder that cannot renew stops counting itself the holder. */
let redis: Redis;
const key = `zc:lock:test:${uniquePrefix('lock')}`;
beforeAll(async () => {
  redis = await testRedis();
});
afterAll(async () => {
  await redis.del(key, tokenCounterKey(key));
  redis.disconnect();
});

test('each holder gets a larger fencing token, above the floor it asks for', async () => {
  const first = (await tryLock(redis, key, { ttlMs: 5000 }))!;
  expect(await tryLock(redis, key, { ttlMs: 5000 })).toBeNull();
  await first.release();
  const second = (await tryLock(redis, key, { ttlMs: 5000 }))!;
  expect(second.token).toBeGreaterThan(first.token);
  await second.release();
  const third = (await tryLock(redis, key, { ttlMs: 5000, tokenFloor: second.token + 10 }))!;
  expect(third.token).toBe(second.token + 11);
  expect(await third.confirm()).toBe(true);
  await third.release();
  expect(await third.confirm()).toBe(false);
});

test('renewals failing (Redis unreachable): the lock stops being held after its TTL', async () => {
  const conn = await testRedis();
  const lock = (await tryLock(conn, key, { ttlMs: 600 }))!;
  expect(lock.held).toBe(true);
  conn.disconnect();
  await new Promise((r) => setTimeout(r, 1000));
  expect(lock.held).toBe(false);
  expect(await lock.confirm()).toBe(false);
  await redis.del(key);
});
