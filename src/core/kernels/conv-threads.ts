import type * as tf from '@tensorflow/tfjs-core';
import { extname, join } from 'path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'worker_threads';

/**
 * Threads that convolve parts of a batch for the hybrid backend (each has its own wasm backend;
 * conv-thread.ts). A kernel is synchronous, so the main thread hands parts 1… of the batch to the
 * threads, convolves part 0 itself, then blocks on each thread's state word until it is done.
 * Inputs and outputs travel through shared memory, one buffer of each per thread, grown as needed.
 */

/** A thread's state word: written by the thread, waited on by the main thread. */
export const STATE = { busy: 0, ready: 1, done: 2, failed: 3 } as const;

/** What a thread convolves: `count` items of x (in `x`), the filter (in `filter`), into `out`. */
export interface ConvPart {
  kernelName: string;
  attrs: tf.NamedAttrMap;
  itemShape: number[];
  itemIn: number;
  itemOut: number;
  count: number;
  filterShape: number[];
  filterLength: number;
  sliceBytes: number;
  x: SharedArrayBuffer;
  filter: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

export type ConvRequest = Omit<ConvPart, 'x' | 'filter' | 'out' | 'filterLength'> & { x: Float32Array; filter: Float32Array };

/** A thread loads tfjs and initialises wasm in about a second; far longer means it is stuck. */
const START_TIMEOUT_MS = 120_000;
/** A part is at most seconds of work: by default, one that takes ten minutes means the thread hangs. */
export const PART_TIMEOUT_MS = 600_000;

function grown(buffer: SharedArrayBuffer, bytes: number): SharedArrayBuffer {
  return buffer.byteLength >= bytes ? buffer : new SharedArrayBuffer(bytes);
}

export class ConvThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly state: Int32Array;
  private x = new SharedArrayBuffer(0);
  private filter = new SharedArrayBuffer(0);
  private out = new SharedArrayBuffer(0);
  private pending: ConvRequest | null = null;
  /** Terminated after a part timed out: not handed out again. */
  stopped = false;

  /**
   * `entry`: the thread's module (conv-thread.ts or .js next to this file; tests give another).
   * `partTimeoutMs`: how long `finish` waits for a part before it terminates the thread and throws.
   */
  constructor(
    entry = join(__dirname, `conv-thread${extname(__filename)}`),
    private readonly opts: { partTimeoutMs?: number } = {},
  ) {
    const { port1, port2 } = new MessageChannel();
    const state = new SharedArrayBuffer(4);
    // Under ts-jest or tsx this file is TypeScript: the thread needs tsx's require hook to load its own.
    const typescript = extname(__filename) === '.ts';
    // A bootstrap that reports a module that fails to load: the main thread would wait forever.
    const bootstrap = `
      const { workerData } = require('worker_threads');
      try { require(${JSON.stringify(entry)}); } catch (err) {
        workerData.port.postMessage(String(err && err.message || err));
        const state = new Int32Array(workerData.state);
        Atomics.store(state, 0, ${STATE.failed});
        Atomics.notify(state, 0);
      }`;
    this.worker = new Worker(bootstrap, {
      eval: true,
      workerData: { port: port2, state },
      transferList: [port2],
      execArgv: typescript ? ['--require', require.resolve('tsx/cjs')] : [],
    });
    // Neither keeps the process alive: the threads end with it.
    this.worker.unref();
    port1.unref();
    this.port = port1;
    this.state = new Int32Array(state);
    this.await('start', START_TIMEOUT_MS);
  }

  /** Hand the thread its part (copied into shared memory); `finish` returns the result. */
  start(request: ConvRequest): void {
    if (this.pending) throw new Error('a convolution thread was given a part before finishing the previous one');
    const outBytes = 4 * request.count * request.itemOut;
    this.x = grown(this.x, request.x.byteLength);
    this.filter = grown(this.filter, request.filter.byteLength);
    this.out = grown(this.out, outBytes);
    new Float32Array(this.x, 0, request.x.length).set(request.x);
    new Float32Array(this.filter, 0, request.filter.length).set(request.filter);
    Atomics.store(this.state, 0, STATE.busy);
    const part: ConvPart = { ...request, x: this.x, filter: this.filter, out: this.out, filterLength: request.filter.length };
    this.port.postMessage(part);
    this.pending = request;
  }

  /** Block until the part is convolved; copy its output into `into`. */
  finish(into: Float32Array): void {
    const request = this.pending;
    if (!request) throw new Error('no convolution part is pending on this thread');
    this.pending = null;
    this.await(request.kernelName, this.opts.partTimeoutMs ?? PART_TIMEOUT_MS);
    into.set(new Float32Array(this.out, 0, request.count * request.itemOut));
  }

  private await(what: string, timeoutMs = Infinity): void {
    if (Atomics.wait(this.state, 0, STATE.busy, timeoutMs) === 'timed-out') {
      this.stopped = true;
      void this.worker.terminate();
      throw new Error(`convolution thread failed (${what}): no answer within ${timeoutMs / 1000} s`);
    }
    if (Atomics.load(this.state, 0) === STATE.failed) {
      const message = receiveMessageOnPort(this.port)?.message as string | undefined;
      throw new Error(`convolution thread failed (${what}): ${message ?? 'no message'}`);
    }
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

const threads: ConvThread[] = [];

/** `count` helper threads (started on first use, kept for the process). */
export function convThreads(count: number): ConvThread[] {
  for (let i = threads.length - 1; i >= 0; i--) if (threads[i]!.stopped) threads.splice(i, 1);
  while (threads.length < count) threads.push(new ConvThread());
  return threads.slice(0, count);
}

/** Stop every helper thread (tests; a process's threads otherwise end with it). */
export async function stopConvThreads(): Promise<void> {
  await Promise.all(threads.splice(0).map((t) => t.terminate()));
}

/** Split n items into at most `parts` contiguous runs, as even as possible: [start, count] each. */
export function splitBatch(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, i) => {
    const start = Math.floor((i * n) / k);
    return [start, Math.floor(((i + 1) * n) / k) - start] as [number, number];
  });
}
