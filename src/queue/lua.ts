import { readFileSync } from 'fs';
import type { Redis } from 'ioredis';
import { join } from 'path';

/**
 * The Lua scripts of src/queue/lua, one file each (copied next to the compiled code by `npm run
 * build`). Registered on a connection once, then called by sha (EVALSHA) like BullMQ's own.
 */
export const SCRIPTS = {
  acquireLock: { keys: 2 },
  extendLock: { keys: 1 },
  commitSegment: { keys: 3 },
  markPublished: { keys: 5 },
  releaseLock: { keys: 1 },
  writeRows: { keys: 3 },
} as const;

export type ScriptName = keyof typeof SCRIPTS;

const sources = new Map<ScriptName, string>();

function source(name: ScriptName): string {
  let text = sources.get(name);
  if (text === undefined) sources.set(name, (text = readFileSync(join(__dirname, 'lua', `${name}.lua`), 'utf8')));
  return text;
}

const COMMAND_PREFIX = 'zc_';

/** Run a script on `redis`, defining it on that connection the first time. */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  const command = COMMAND_PREFIX + name;
  const callable = redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
  if (typeof callable[command] !== 'function') redis.defineCommand(command, { numberOfKeys: SCRIPTS[name].keys, lua: source(name) });
  return callable[command]!.call(redis, ...keys, ...args);
}
