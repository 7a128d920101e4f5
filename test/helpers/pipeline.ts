import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/queue/connection';
import { BUILDS_SET } from '../../src/queue/names';

/** A Redis key prefix no other test (or engineer) uses: BullMQ queues of one test stay apart. */
export function uniquePrefix(tag: string): string {
  return `zct-${tag}-${process.pid}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

export function testRedis(): Promise<Redis> {
  return connectRedis(redisUrl());
}

/** Delete every key of a test: its BullMQ prefix and the zc keys of its builds. */
export async function cleanupRedis(redis: Redis, prefix: string, buildIds: string[] = []): Promise<void> {
  const patterns = [`${prefix}:*`, ...buildIds.map((b) => `zc:${b}:*`), ...buildIds.map((b) => `zc:lock:*:${b}`)];
  for (const match of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  if (buildIds.length > 0) await redis.srem(BUILDS_SET, ...buildIds);
}
