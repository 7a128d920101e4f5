import { spawn, type ChildProcess } from 'child_process';
import { createServer, type AddressInfo } from 'net';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/queue/connection';

/** A redis-server of one test, on a free loopback port: for faults no shared server may see. */
export interface TestRedisServer {
  url: string;
  /** A connection for the test itself (CONFIG SET, INFO). */
  admin: Redis;
  stop(): Promise<void>;
}

/** A port nothing listens on now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(): Promise<TestRedisServer> {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  let admin: Redis | undefined;
  for (let i = 0; i < 50 && !admin; i++) {
    await new Promise((r) => setTimeout(r, 100));
    admin = await connectRedis(url, { connectTimeoutMs: 500 }).catch(() => undefined);
  }
  if (!admin) {
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${port} (is it installed?)`);
  }
  const ready = admin;
  return {
    url,
    admin: ready,
    async stop() {
      ready.disconnect();
      if (proc.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    },
  };
}
