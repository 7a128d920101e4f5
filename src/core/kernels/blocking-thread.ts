import { extname } from 'path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'worker_threads';

/**
 * A worker thread that a synchronous caller (a tfjs kernel, a shard of a pass) hands work to and
 * then blocks on: the thread reports through one shared state word (Atomics), and an error's
 * message follows on the port. The convolution threads of the hybrid backend and the batch shards
 * of a sharded job are both this.
 */

/** The state word: written by the thread, waited on by the caller. */
export const STATE = { busy: 0, ready: 1, done: 2, failed: 3 } as const;

/** A thread loads tfjs and initialises wasm in about a second; far longer means it is stuck. */
export const START_TIMEOUT_MS = 120_000;

/** The thread side: report `value` (STATE) to the blocked caller. */
export function signalState(state: SharedArrayBuffer, value: number): void {
  const flags = new Int32Array(state);
  Atomics.store(flags, 0, value);
  Atomics.notify(flags, 0);
}

export class BlockingThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly state: Int32Array;
  /** Terminated after a wait timed out: not handed work again. */
  stopped = false;

  /**
   * `entry`: the thread's module, which reads `{ port, state }` from workerData, signals
   * STATE.ready once started, then answers each message with STATE.done or STATE.failed.
   * `label` names the thread in errors ("convolution thread"). Blocks until it is ready.
   */
  constructor(
    entry: string,
    private readonly label: string,
  ) {
    const { port1, port2 } = new MessageChannel();
    const state = new SharedArrayBuffer(4);
    // Under ts-jest or tsx this file is TypeScript: the thread needs tsx's require hook to load its own.
    const typescript = extname(__filename) === '.ts';
    // A bootstrap that reports a module that fails to load: the caller would wait forever.
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
    this.wait('start', START_TIMEOUT_MS);
  }

  /** Mark the thread busy and send it `message`; `wait` blocks until it answers. */
  post(message: unknown): void {
    Atomics.store(this.state, 0, STATE.busy);
    this.port.postMessage(message);
  }

  /** Block until the thread answers (or `timeoutMs` passes: then it is terminated); throws its error. */
  wait(what: string, timeoutMs = Infinity): void {
    if (Atomics.wait(this.state, 0, STATE.busy, timeoutMs) === 'timed-out') {
      this.stopped = true;
      void this.worker.terminate();
      throw new Error(`${this.label} failed (${what}): no answer within ${timeoutMs / 1000} s`);
    }
    if (Atomics.load(this.state, 0) === STATE.failed) {
      const message = receiveMessageOnPort(this.port)?.message as string | undefined;
      throw new Error(`${this.label} failed (${what}): ${message ?? 'no message'}`);
    }
  }

  terminate(): Promise<number> {
    this.stopped = true;
    return this.worker.terminate();
  }
}
