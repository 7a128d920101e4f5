/**
 * Injecting the schedule's faults into a running cluster: signals to workers, their compute
 * children and aggregators; Redis shut down and restarted on its AOF; FLUSHALL followed by the
 * resume (`produce` again); the S3 server stopped and restarted on its port and directory; a
 * second aggregator; poison entries in a build's results stream.
 */
import { readSegments } from '../../src/aggregator/segments';
import { Rng } from '../../src/core/rng';
import { redisKeys } from '../../src/queue/names';
import type { ObjectStore } from '../../src/storage/objects';
import { busyPids, childPids, type Cluster, type Supervised } from './chaos-cluster';
import type { FaultKind, PlannedFault } from './chaos-schedule';

export interface InjectedFault {
  /** Seconds after the build's first `produce`, when it was injected. */
  at: number;
  plannedAt: number;
  kind: FaultKind;
  target: string;
  durationS?: number;
  outcome?: string;
}

export interface BuildHandle {
  dataset: string;
  specFile: string;
  buildId: string;
}

export interface InjectorContext {
  cluster: Cluster;
  /** The harness's own client of the cluster's S3. */
  store: ObjectStore;
  builds: BuildHandle[];
  prefix: string;
  /** The arguments of an aggregator (the second one runs the same command). */
  aggregatorArgs: string[];
  /** Row counters of the builds' records, read before a FLUSHALL erases them. */
  onFlush: () => Promise<void>;
}

const isWorker = (role: string) => role.startsWith('light-') || role.startsWith('heavy-');
const isAggregator = (role: string) => role.startsWith('aggregator-');

export class FaultInjector {
  readonly injected: InjectedFault[] = [];
  readonly notInjected: (PlannedFault & { why: string })[] = [];
  private readonly inFlight: Promise<void>[] = [];
  private readonly stoppedChildren = new Set<number>();
  /** Children a fault has taken (killed, or stopped until it continues them). */
  private readonly claimed = new Set<number>();
  /** When each compute child was first seen (a child younger than 3 s is still starting). */
  private readonly firstSeen = new Map<number, number>();
  private readonly rng: Rng;
  private cancelled = false;
  private wake: (() => void)[] = [];

  constructor(
    private readonly ctx: InjectorContext,
    seed: number,
    private readonly t0: number,
  ) {
    this.rng = new Rng(seed).fork('targets');
  }

  private now(): number {
    return +((Date.now() - this.t0) / 1000).toFixed(1);
  }

  /** Sleep that `cancel()` cuts short (stopped processes are then continued at once). */
  private pause(ms: number): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake.push(done);
    });
  }

  async run(schedule: readonly PlannedFault[]): Promise<void> {
    for (const [i, f] of schedule.entries()) {
      await this.pause(Math.max(0, this.t0 + f.at * 1000 - Date.now()));
      if (this.cancelled) {
        this.notInjected.push(...schedule.slice(i).map((p) => ({ ...p, why: 'the builds were published first' })));
        return;
      }
      this.inFlight.push(
        this.inject(f).catch((err: unknown) => {
          this.notInjected.push({ ...f, why: `injection failed: ${String(err)}` });
        }),
      );
    }
  }

  /** The builds are published: no further faults; stopped processes continue now; wait for outages to end. */
  async cancel(): Promise<void> {
    this.cancelled = true;
    for (const w of this.wake.splice(0)) w();
    await Promise.all(this.inFlight);
    for (const pid of this.stoppedChildren) signalPid(pid, 'SIGCONT');
  }

  private record(f: PlannedFault, target: string, extra: Partial<InjectedFault> = {}): InjectedFault {
    const r: InjectedFault = {
      at: this.now(),
      plannedAt: f.at,
      kind: f.kind,
      target,
      ...(f.durationS !== undefined ? { durationS: f.durationS } : {}),
      ...extra,
    };
    this.injected.push(r);
    return r;
  }

  private async inject(f: PlannedFault): Promise<void> {
    const ms = (f.durationS ?? 0) * 1000;
    switch (f.kind) {
      case 'worker-sigkill':
      case 'aggregator-sigkill': {
        const role = await this.pickRole(f.kind === 'worker-sigkill' ? isWorker : isAggregator);
        if (!role) return this.skip(f, 'no running target');
        this.record(f, `${role.role} (pid ${role.pid})`);
        role.signal('SIGKILL');
        return;
      }
      case 'worker-sigstop':
      case 'aggregator-sigstop': {
        const role = await this.pickRole(f.kind === 'worker-sigstop' ? isWorker : isAggregator);
        if (!role) return this.skip(f, 'no running target');
        this.record(f, `${role.role} (pid ${role.pid})`);
        role.signal('SIGSTOP');
        await this.pause(ms);
        role.signal('SIGCONT');
        return;
      }
      case 'child-sigkill':
      case 'child-sigstop':
        return this.childFault(f, ms);
      case 'second-aggregator':
        this.ctx.cluster.add('aggregator-2', this.ctx.aggregatorArgs, true);
        this.record(f, 'aggregator-2');
        return;
      case 'redis-restart': {
        const { cluster } = this.ctx;
        await cluster.jobStarts.poll(cluster.admin).catch(() => undefined);
        const r = this.record(f, `redis-server :${cluster.redis.port}`);
        await cluster.redis.shutdown();
        await sleep(ms);
        await cluster.redis.launch();
        r.outcome = `down ${((Date.now() - this.t0) / 1000 - r.at).toFixed(1)} s, restarted on its AOF`;
        return;
      }
      case 'redis-flushall-resume':
        return this.flushAndResume(f);
      case 's3-outage': {
        const { s3 } = this.ctx.cluster;
        const r = this.record(f, `s3rver :${s3.port}`);
        await s3.stop();
        await sleep(ms);
        await s3.start();
        r.outcome = `out ${((Date.now() - this.t0) / 1000 - r.at).toFixed(1)} s, restarted on the same port and directory`;
        return;
      }
      case 'poison-unparsable':
      case 'poison-extra-field':
        return this.poison(f);
    }
  }

  private skip(f: PlannedFault, why: string): void {
    this.notInjected.push({ ...f, why });
  }

  /** A running (not stopped) role of the kind, drawn by the targets stream; waits up to 15 s for one. */
  private async pickRole(kind: (role: string) => boolean): Promise<Supervised | undefined> {
    for (let i = 0; i < 60 && !this.cancelled; i++) {
      const roles = [...this.ctx.cluster.roles.values()].filter((r) => kind(r.role) && r.alive && !r.dying && !r.stopped && !r.finished);
      if (roles.length > 0) return roles[this.rng.int(roles.length)];
      await sleep(250);
    }
    return undefined;
  }

  /**
   * A compute child of a running worker in the middle of a job (one that used CPU just now, and
   * alive for 3 s: not one still loading its backend). Half the time the heavy pool's, waited for
   * up to 20 s (it only computes jobs a light child's death moved there; a kill there halves the
   * batch); otherwise, or after that, any busy one; after 30 s without one, any child.
   */
  private async childFault(f: PlannedFault, ms: number): Promise<void> {
    const wantHeavy = this.rng.float() < 0.5;
    const started = Date.now();
    for (;;) {
      if (this.cancelled) return this.skip(f, 'the builds were published first');
      const waited = Date.now() - started;
      if (waited > 60_000) return this.skip(f, 'no compute child alive within 60 s');
      const found = [...this.ctx.cluster.roles.values()]
        .filter((r) => isWorker(r.role) && r.alive && !r.stopped)
        .flatMap((r) =>
          childPids(r.pid!)
            .filter((pid) => !this.claimed.has(pid))
            .map((pid) => ({ role: r.role, pid })),
        );
      for (const c of found) if (!this.firstSeen.has(c.pid)) this.firstSeen.set(c.pid, Date.now());
      const warm = found.filter((c) => Date.now() - this.firstSeen.get(c.pid)! >= 3000);
      const anyChild = waited > 30_000;
      const busy = anyChild ? new Set(found.map((c) => c.pid)) : new Set(await busyPids(warm.map((c) => c.pid)));
      // Another fault may have taken a child while this one waited.
      const candidates = found.filter((c) => busy.has(c.pid) && !this.claimed.has(c.pid));
      const heavy = candidates.filter((c) => c.role.startsWith('heavy-'));
      const pool = wantHeavy && waited < 20_000 ? heavy : candidates;
      if (pool.length === 0) {
        await sleep(100);
        continue;
      }
      const c = pool[this.rng.int(pool.length)]!;
      this.claimed.add(c.pid);
      this.record(f, `compute child of ${c.role} (pid ${c.pid})${anyChild ? '' : ', busy'}`);
      if (f.kind === 'child-sigkill') return signalPid(c.pid, 'SIGKILL');
      this.stoppedChildren.add(c.pid);
      signalPid(c.pid, 'SIGSTOP');
      await this.pause(ms);
      signalPid(c.pid, 'SIGCONT');
      this.stoppedChildren.delete(c.pid);
      this.claimed.delete(c.pid);
      return;
    }
  }

  /** FLUSHALL, then what the operator does: `produce` again with each spec (the resume). */
  private async flushAndResume(f: PlannedFault): Promise<void> {
    const { cluster } = this.ctx;
    await cluster.jobStarts.poll(cluster.admin);
    await this.ctx.onFlush();
    const r = this.record(f, `redis-server :${cluster.redis.port}`);
    await cluster.admin.flushall();
    const resumed = await Promise.all(
      this.ctx.builds.map(async (b) => {
        const out = await retry(3, () => cluster.runOnce(['produce', '--spec', b.specFile, '--json']));
        const p = JSON.parse(out) as { enqueuedTriples: number; alreadyStored: number };
        return `${b.dataset}: ${p.alreadyStored} triples already in S3, ${p.enqueuedTriples} enqueued again`;
      }),
    );
    r.outcome = `resumed ${((Date.now() - this.t0) / 1000 - r.at).toFixed(1)} s after the flush: ${resumed.join('; ')}`;
  }

  /** An entry no row can be made of, or a row of an already stored triple with a field ResultRow does not have. */
  private async poison(f: PlannedFault): Promise<void> {
    const build = this.ctx.builds[0]!;
    const stream = redisKeys(this.ctx.prefix).results(build.buildId);
    let text = '{"tripleId": "chaos-poison", "score": ';
    let target = `${stream} (not JSON)`;
    if (f.kind === 'poison-extra-field') {
      let { rows } = await readSegments(this.ctx.store, build.buildId);
      for (let i = 0; i < 30 && rows.length === 0 && !this.cancelled; i++) {
        await sleep(1000);
        rows = (await readSegments(this.ctx.store, build.buildId)).rows;
      }
      if (rows.length === 0) return this.skip(f, 'no stored row to copy within 30 s');
      const row = rows[this.rng.int(rows.length)]!;
      text = JSON.stringify({ ...row, chaosPoison: true });
      target = `${stream} (triple ${row.tripleId} with an extra field)`;
    }
    await this.ctx.cluster.admin.xadd(stream, '*', 'row', text);
    this.record(f, target);
  }
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function retry<T>(times: number, op: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= times) throw err;
      await sleep(2000);
    }
  }
}
