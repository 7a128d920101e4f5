import type * as tf from '@tensorflow/tfjs-core';
import { extname, join } from 'path';
import { BlockingThread } from './blocking-thread';

/**
 * Threads that convolve parts of a batch for the hybrid backend (each has its own wasm backend;
 * conv-thread.ts). A kernel is synchronous, so the main thread hands parts 1… of the batch to the
 * threads, convolves part 0 itself, then blocks on each thread's state word until it is done.
 * Inputs and outputs travel through shared memory, one buffer of each per thread, grown as needed.
 */

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

/** A part is at most seconds of work: by default, one that takes ten minutes means the thread hangs. */
export const PART_TIMEOUT_MS = 600_000;

function grown(buffer: SharedArrayBuffer, bytes: number): SharedArrayBuffer {
  return buffer.byteLength >= bytes ? buffer : new SharedArrayBuffer(bytes);
}

export class ConvThread {
  private readonly thread: BlockingThread;
  private x = new SharedArrayBuffer(0);
  private filter = new SharedArrayBuffer(0);
  private out = new SharedArrayBuffer(0);
  private pending: ConvRequest | null = null;

  /**
   * `entry`: the thread's module (conv-thread.ts or .js next to this file; tests give another).
   * `partTimeoutMs`: how long `finish` waits for a part before it terminates the thread and throws.
   */
  constructor(
    entry = join(__dirname, `conv-thread${extname(__filename)}`),
    private readonly opts: { partTimeoutMs?: number } = {},
  ) {
    this.thread = new BlockingThread(entry, 'convolution thread');
  }

  /** Terminated after a part timed out: not handed out again. */
  get stopped(): boolean {
    return this.thread.stopped;
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
    const part: ConvPart = { ...request, x: this.x, filter: this.filter, out: this.out, filterLength: request.filter.length };
    this.thread.post(part);
    this.pending = request;
  }

  /** Block until the part is convolved; copy its output into `into`. */
  finish(into: Float32Array): void {
    const request = this.pending;
    if (!request) throw new Error('no convolution part is pending on this thread');
    this.pending = null;
    this.thread.wait(request.kernelName, this.opts.partTimeoutMs ?? PART_TIMEOUT_MS);
    into.set(new Float32Array(this.out, 0, request.count * request.itemOut));
  }

  terminate(): Promise<number> {
    return this.thread.terminate();
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
