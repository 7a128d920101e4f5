/**
 * The chaos run's cluster: a redis-server of its own (AOF on) on a free loopback port, the
 * embedded S3 (s3rver) on loopback, and `zcbench` CLI processes (workers, aggregators) kept
 * running by a supervisor, as Kubernetes would restart a dead pod. Every process is started
 * here and ended here, by its pid.
 */
import { spawn, type ChildProcess } from 'child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, type WriteStream } from 'fs';
import type { Redis } from 'ioredis';
import { join } from 'path';
import { connectRedis } from '../../src/queue/connection';
import { QUEUE_NAMES, POOLS } from '../../src/queue/names';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/storage/embedded';
import { freePort } from '../../test/helpers/redis-server';

export const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'zcbench.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server with `appendonly yes`, `appendfsync everysec`: restarted on the same port and directory it reloads its AOF. */
export class RedisServer {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<RedisServer> {
    mkdirSync(dir, { recursive: true });
    const server = new RedisServer(await freePort(), dir);
    await server.launch();
    return server;
  }

  /** Start it and wait until it answers PING (its AOF loaded). */
  async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      join(this.dir, 'redis.log'),
    ];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      const probe = await connectRedis(this.url, { connectTimeoutMs: 500 }).catch(() => undefined);
      if (probe) {
        probe.disconnect();
        return;
      }
      if (this.proc.exitCode !== null) break;
    }
    throw new Error(`redis-server did not start on port ${this.port} (see ${join(this.dir, 'redis.log')})`);
  }

  /** SIGTERM is Redis's SHUTDOWN: the AOF is flushed and fsynced before it exits. */
  async shutdown(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }
}

/** The embedded S3 on one port and directory; an outage stops it and starts it again there. */
export class S3Server {
  private embedded: EmbeddedS3 | undefined;
  port = 0;

  constructor(
    readonly dir: string,
    readonly bucket = 'zcbench',
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.embedded = await startEmbeddedS3({ dir: this.dir, bucket: this.bucket, port: this.port || undefined });
    this.port = this.embedded.port;
  }

  async stop(): Promise<void> {
    await this.embedded?.stop();
    this.embedded = undefined;
  }
}

export interface ProcessExit {
  role: string;
  pid: number;
  code: number | null;
  signal: string | null;
  /** Seconds since the cluster's clock started. */
  at: number;
  /** The exit came from a fault we injected (SIGKILL). */
  injected: boolean;
  stderrTail?: string;
}

/**
 * One role of the cluster (`light-1`, `aggregator-2`, …): a `zcbench` process, restarted after
 * `restartDelayMs` when it dies while the cluster runs — except an aggregator that finished its
 * builds (`--until-published`, exit 0).
 */
export class Supervised {
  proc: ChildProcess | undefined;
  starts = 0;
  stopped = false;
  finished = false;
  /** A worker logged `worker started` (its backend loaded, its queue open). */
  ready = false;
  private injectedKill = false;
  private stderrTail = '';
  private log: WriteStream | undefined;

  constructor(
    readonly role: string,
    readonly args: string[],
    private readonly cluster: Cluster,
    readonly finishesByItself: boolean,
  ) {}

  get pid(): number | undefined {
    return this.alive ? this.proc!.pid : undefined;
  }

  /** SIGKILLed by a fault, its exit not yet seen: no target for another fault. */
  get dying(): boolean {
    return this.injectedKill && this.alive;
  }

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): void {
    this.starts++;
    this.stopped = false;
    this.injectedKill = false;
    this.ready = false;
    this.stderrTail = '';
    this.log = createWriteStream(join(this.cluster.logDir, `${this.role}.log`), { flags: 'a' });
    const proc = spawn(process.execPath, [CLI, ...this.args], { cwd: ROOT, env: this.cluster.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const log = this.log;
    log.write(`--- start ${this.starts}: pid ${proc.pid}, ${this.cluster.seconds().toFixed(1)} s\n`);
    proc.stdout!.on('data', (d: Buffer) => log.write(d));
    proc.stderr!.on('data', (d: Buffer) => {
      log.write(d);
      this.stderrTail = (this.stderrTail + d.toString()).slice(-1500);
      if (!this.ready && this.stderrTail.includes('"worker started"')) this.ready = true;
    });
    proc.once('exit', (code, signal) => {
      log.end(`--- exit: code ${code}, signal ${signal}\n`);
      const injected = this.injectedKill && signal === 'SIGKILL';
      this.cluster.exits.push({
        role: this.role,
        pid: proc.pid!,
        code,
        signal,
        at: +this.cluster.seconds().toFixed(1),
        injected,
        ...(injected ? {} : { stderrTail: this.stderrTail.slice(-600) }),
      });
      if (this.finishesByItself && code === 0) this.finished = true;
      if (this.cluster.running && !this.finished) setTimeout(() => this.cluster.running && !this.alive && this.start(), this.cluster.restartDelayMs);
    });
  }

  signal(sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): void {
    if (!this.alive) return;
    if (sig === 'SIGKILL') this.injectedKill = true;
    if (sig === 'SIGSTOP') this.stopped = true;
    if (sig === 'SIGCONT' || sig === 'SIGKILL') this.stopped = false;
    this.proc!.kill(sig);
  }

  /** Wait for the process to end (SIGKILL after `ms`). */
  async waitExit(ms: number): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.alive) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
}

/** Compute children of a worker: processes whose parent is `ppid` running src/worker/child (not, e.g., tsx's esbuild service), from /proc. */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue;
      if (/worker[/\\]child\.(ts|js)/.test(readFileSync(`/proc/${name}/cmdline`, 'utf8'))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU clock ticks a process has used (utime + stime, /proc), undefined once it is gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Those of `pids` that used CPU within `ms` (a compute child in the middle of a job, not an idle one). */
export async function busyPids(pids: readonly number[], ms = 300): Promise<number[]> {
  const before = pids.map(cpuTicks);
  await sleep(ms);
  return pids.filter((pid, i) => {
    const now = cpuTicks(pid);
    return now !== undefined && before[i] !== undefined && now > before[i]!;
  });
}

/** Counts of BullMQ's own `active` events per job id: every start of a job, retries and stall recoveries included. */
export class JobStarts {
  readonly starts = new Map<string, number>();
  stalled = 0;
  private readonly lastIds = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  private chain: Promise<void> = Promise.resolve();

  /** Read the queues' event streams from where the last poll stopped (a flushed stream starts over at later ids); one poll at a time. */
  poll(redis: Redis): Promise<void> {
    const next = this.chain.then(() => this.pollOnce(redis));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async pollOnce(redis: Redis): Promise<void> {
    for (const pool of POOLS) {
      const key = `${this.prefix}:${QUEUE_NAMES[pool]}:events`;
      for (;;) {
        const from = this.lastIds.get(key);
        const entries = (await redis.xrange(key, from ? `(${from}` : '-', '+', 'COUNT', 5000)) as [string, string[]][];
        if (entries.length === 0) break;
        for (const [id, fields] of entries) {
          const event = fields[fields.indexOf('event') + 1];
          const jobId = fields[fields.indexOf('jobId') + 1];
          if (event === 'active' && jobId) this.starts.set(jobId, (this.starts.get(jobId) ?? 0) + 1);
          if (event === 'stalled') this.stalled++;
          this.lastIds.set(key, id);
        }
      }
    }
  }

  summary(): { jobs: number; jobStarts: number; recomputedJobs: number; stalledEvents: number } {
    const counts = [...this.starts.values()];
    return {
      jobs: counts.length,
      jobStarts: counts.reduce((a, b) => a + b, 0),
      recomputedJobs: counts.filter((n) => n > 1).length,
      stalledEvents: this.stalled,
    };
  }
}

export interface ClusterOptions {
  dir: string;
  prefix: string;
  /** Extra environment of every process (deadlines, budgets). */
  env: Record<string, string>;
  restartDelayMs?: number;
}

/** Redis, S3 and the supervised processes of one run (fault-free or chaos). */
export class Cluster {
  readonly exits: ProcessExit[] = [];
  readonly roles = new Map<string, Supervised>();
  readonly logDir: string;
  readonly restartDelayMs: number;
  readonly jobStarts: JobStarts;
  running = true;
  env: NodeJS.ProcessEnv = {};
  admin!: Redis;
  private readonly t0 = Date.now();

  private constructor(
    readonly opts: ClusterOptions,
    readonly redis: RedisServer,
    readonly s3: S3Server,
  ) {
    this.logDir = join(opts.dir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    this.restartDelayMs = opts.restartDelayMs ?? 2000;
    this.jobStarts = new JobStarts(opts.prefix);
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const redis = await RedisServer.start(join(opts.dir, 'redis'));
    const s3 = new S3Server(join(opts.dir, 's3'));
    await s3.start();
    const c = new Cluster(opts, redis, s3);
    c.env = {
      ...process.env,
      ...opts.env,
      ZC_FROM_SOURCE: '1',
      REDIS_URL: redis.url,
      ZC_QUEUE_PREFIX: opts.prefix,
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    c.admin = await connectRedis(redis.url);
    return c;
  }

  seconds(): number {
    return (Date.now() - this.t0) / 1000;
  }

  /** Start a supervised role. */
  add(role: string, args: string[], finishesByItself = false): Supervised {
    const s = new Supervised(role, args, this, finishesByItself);
    this.roles.set(role, s);
    s.start();
    return s;
  }

  /** A one-off `zcbench` command (produce): its stdout, or an error with its stderr. */
  runOnce(args: string[], timeoutMs = 180_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-3000)));
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`zcbench ${args[0]} exited ${code ?? signal}: ${err.trim().slice(-1000)}`));
      });
    });
  }

  /** Stop everything this run started: processes (SIGCONT first), their children, Redis and S3. */
  async stop(): Promise<void> {
    this.running = false;
    const roles = [...this.roles.values()];
    const orphans = new Set<number>();
    for (const r of roles) {
      if (!r.alive) continue;
      for (const pid of childPids(r.proc!.pid!)) orphans.add(pid);
      r.signal('SIGCONT');
      r.signal('SIGTERM');
    }
    await Promise.all(roles.map((r) => r.waitExit(20_000)));
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone (children exit with their worker)
      }
    }
    this.admin.disconnect();
    await this.s3.stop();
    await this.redis.shutdown();
  }
}
