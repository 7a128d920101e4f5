import type { ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import { readFileSync } from 'fs';
import { join } from 'path';
import type { ComputeRequest, ComputeResult } from '../core/types';
import { DeadlineError, ResourceError } from '../errors';
import type { Logger } from '../log';
import { forkModule } from './fork';
import type { FromChild, ModuleBundle, SerializedError, ToChild } from './protocol';

export interface ChildPoolOptions {
  /** Children, i.e. jobs computed at once. */
  size: number;
  /** Resident memory a child may reach while computing a job (runtime included, as the core's estimate counts it); above it the child is killed. */
  memoryLimitBytes: number;
  log: Logger;
  /** How often the watchdog reads a busy child's RSS (ten times as often above 3/4 of the budget, where a fast allocation could outrun it). */
  watchIntervalMs?: number;
  /** The child's module without extension (default: ./child); fault tests give a wrapper of it. */
  module?: string;
}

export interface ChildRunOptions {
  /** Kill the child (SIGKILL) and fail the job with a DeadlineError when it has not answered by then. */
  deadlineMs?: number;
  /** User proxy modules the child evaluates (once per sha256) and computes with the request's proxies. */
  modules?: ModuleBundle[];
}

/** A job's error as the child reported it: the worker classifies it by `name`. */
export class ChildJobError extends Error {
  constructor(readonly remote: SerializedError) {
    super(remote.message);
    this.name = remote.name;
    this.stack = remote.stack;
  }
}

interface Child {
  proc: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  stderrTail: string;
}

const STDERR_TAIL = 2000;

/**
 * A fixed number of long-lived compute children (src/worker/child.ts). A child that dies mid-job
 * fails that job and is replaced on the next one. The error says why: a ResourceError when memory
 * ran out (our watchdog's kill, a SIGKILL we did not send — the kernel OOM killer's signal —, V8's
 * out-of-memory abort), a DeadlineError when the job passed its deadline (we killed the child), a
 * plain Error naming the signal or exit code otherwise. Emits `job-start` ({pid, jobId}).
 */
export class ChildPool extends EventEmitter {
  private readonly children: Child[] = [];
  private readonly waiters: Array<() => void> = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: ChildPoolOptions) {
    super();
  }

  async run(req: ComputeRequest, jobId: string, opts: ChildRunOptions = {}): Promise<ComputeResult> {
    if (this.closed) throw new Error('child pool is closed');
    const child = await this.acquire();
    try {
      return await this.runOn(child, req, jobId, opts);
    } finally {
      child.busy = false;
      this.waiters.shift()?.();
    }
  }

  /** Stop every child (SIGTERM, then SIGKILL after `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    await Promise.all(this.children.map((c) => stopChild(c.proc, graceMs)));
    this.children.length = 0;
  }

  /** Pids of live children (for logs and tests). */
  pids(): number[] {
    return this.children.map((c) => c.proc.pid!).filter((p) => p !== undefined);
  }

  private async acquire(): Promise<Child> {
    for (;;) {
      const idle = this.children.find((c) => !c.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.children.length < this.opts.size) {
        const child = this.spawn();
        child.busy = true;
        try {
          await child.ready;
        } catch (err) {
          this.remove(child);
          this.waiters.shift()?.();
          throw err;
        }
        return child;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private spawn(): Child {
    const limitMb = Math.ceil(this.opts.memoryLimitBytes / 2 ** 20);
    const proc = forkModule(this.opts.module ?? join(__dirname, 'child'), __filename, {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
      // V8's heap limit at the budget too: a runaway JS heap aborts (an OOM we recognise) before the host swaps.
      nodeOptions: [`--max-old-space-size=${Math.max(512, limitMb)}`],
    });
    const child: Child = { proc, ready: Promise.resolve(), busy: false, stderrTail: '' };
    proc.stderr?.on('data', (d: Buffer) => {
      child.stderrTail = (child.stderrTail + d.toString()).slice(-STDERR_TAIL);
    });
    child.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromChild) => {
        if (msg.type !== 'ready') return;
        proc.off('exit', onExit);
        this.opts.log.debug({ pid: proc.pid, rssMb: mb(readRss(proc.pid!) ?? 0) }, 'compute child ready');
        resolve();
      };
      const onExit = (code: number | null, signal: string | null) => {
        proc.off('message', onMessage);
        reject(new Error(`compute child (pid ${proc.pid}) failed to start: ${exitText(code, signal)}${tailText(child.stderrTail)}`));
      };
      proc.on('message', onMessage);
      proc.once('exit', onExit);
    });
    // A child that dies while idle is simply dropped; the next job spawns a fresh one.
    proc.once('exit', () => this.remove(child));
    this.children.push(child);
    return child;
  }

  private remove(child: Child): void {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
  }

  private runOn(child: Child, req: ComputeRequest, jobId: string, opts: ChildRunOptions): Promise<ComputeResult> {
    const { proc } = child;
    const id = this.nextId++;
    const limit = this.opts.memoryLimitBytes;
    return new Promise<ComputeResult>((resolve, reject) => {
      /** Why we killed the child, if we did: the job's error. */
      let killedFor: Error | undefined;
      const kill = (why: Error) => {
        if (killedFor) return;
        killedFor = why;
        proc.kill('SIGKILL');
      };
      const done = () => {
        watch.stop();
        clearTimeout(deadline);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      const onMessage = (msg: FromChild) => {
        if (msg.type === 'ready' || msg.id !== id) return;
        done();
        // A child that grew close to its budget keeps that memory: replace it before the next job.
        const rss = readRss(proc.pid!);
        if (rss !== undefined && rss > limit * 0.75) {
          this.remove(child);
          void stopChild(proc, 1000);
        }
        if (msg.type === 'result') resolve(msg.result);
        else reject(new ChildJobError(msg.error));
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        const tail = tailText(child.stderrTail);
        if (killedFor) {
          killedFor.message += tail;
          reject(killedFor);
        } else reject(deathError(`compute child (pid ${proc.pid})`, code, signal, tail, watch.peak(), limit));
      };
      const watch = watchRss(proc.pid!, limit, this.opts.watchIntervalMs ?? 100, (rss) =>
        kill(
          new ResourceError(`compute child (pid ${proc.pid}) over memory budget ${mb(limit)} MB: ${mb(rss)} MB resident, killed by the watchdog`, rss, limit),
        ),
      );
      const deadlineMs = opts.deadlineMs;
      const deadline =
        deadlineMs === undefined
          ? undefined
          : setTimeout(() => kill(new DeadlineError(`timeout after ${formatSeconds(deadlineMs)} s: compute child (pid ${proc.pid}) killed`)), deadlineMs);
      proc.on('message', onMessage);
      proc.once('exit', onExit);
      const msg: ToChild = { type: 'run', id, req, ...(opts.modules ? { modules: opts.modules } : {}) };
      proc.send(msg);
      this.emit('job-start', { pid: proc.pid, jobId });
    });
  }
}

/**
 * The watchdog: read a process's RSS every `intervalMs` — ten times as often above 3/4 of `limit`,
 * where a fast allocation could outrun it — and call `over` while it exceeds `limit`.
 */
function watchRss(pid: number, limit: number, intervalMs: number, over: (rss: number) => void): { stop(): void; peak(): number } {
  let peak = 0;
  let timer: NodeJS.Timeout;
  const check = () => {
    const rss = readRss(pid);
    if (rss !== undefined) {
      peak = Math.max(peak, rss);
      if (rss > limit) over(rss);
    }
    timer = setTimeout(check, rss !== undefined && rss > limit * 0.75 ? Math.max(1, intervalMs / 10) : intervalMs);
  };
  timer = setTimeout(check, intervalMs);
  return { stop: () => clearTimeout(timer), peak: () => peak };
}

/**
 * Why a child died that we did not kill. Memory: a SIGKILL (what the kernel's OOM killer sends;
 * nobody else of ours does) or V8's out-of-memory abort (exit code 134). Anything else: its signal
 * or exit code, a plain (retryable) error.
 */
function deathError(who: string, code: number | null, signal: string | null, tail: string, peakRss: number, limit: number): Error {
  if (signal === 'SIGKILL')
    return new ResourceError(`${who} killed by SIGKILL (likely the kernel OOM killer) during the job${tail}`, peakRss || undefined, limit);
  const text = `${who} ${exitText(code, signal)} during the job${tail}`;
  return code === 134 ? new ResourceError(text, peakRss || undefined, limit) : new Error(text);
}

function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function mb(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function exitText(code: number | null, signal: string | null): string {
  if (signal) return `was killed by ${signal}`;
  // 134 = SIGABRT as an exit code: V8 aborts this way when its heap is exhausted.
  if (code === 134) return 'aborted (exit code 134, out of memory)';
  return `exited with code ${code}`;
}

function tailText(tail: string): string {
  const line = tail
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .pop();
  return line ? ` (last stderr line: ${line.slice(0, 300)})` : '';
}

/** Resident set size of a process, from /proc (Linux); undefined elsewhere or once it is gone. */
function readRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
