/**
 * A convolution thread of the hybrid backend (conv-threads.ts starts it): its own wasm backend
 * convolves the part of a batch the main thread hands it, reading the input from and writing the
 * output to shared memory. It signals completion through `state` (Atomics), which the main thread,
 * blocked inside a synchronous kernel, waits on; an error's message follows on the port.
 */
import * as tf from '@tensorflow/tfjs-core';
import { workerData, type MessagePort } from 'worker_threads';
import { pointWasmAtItsBinaries } from './wasm-paths';
import { convolveInSlices, type WasmBackendLike } from './wasm-slices';
import { signalState, STATE } from './blocking-thread';
import type { ConvPart } from './conv-threads';

const { port, state } = workerData as { port: MessagePort; state: SharedArrayBuffer };
const signal = (value: number) => signalState(state, value);

async function start(): Promise<void> {
  tf.env().set('PROD', true);
  pointWasmAtItsBinaries();
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise in a convolution thread');
  const wasm = tf.backend() as WasmBackendLike;
  port.on('message', (part: ConvPart) => {
    try {
      const kernel = tf.getKernel(part.kernelName, 'wasm');
      if (!kernel) throw new Error(`wasm has no ${part.kernelName} kernel`);
      convolveInSlices({
        wasm,
        kernel,
        attrs: part.attrs,
        x: new Float32Array(part.x, 0, part.count * part.itemIn),
        itemIn: part.itemIn,
        itemShape: part.itemShape,
        filter: new Float32Array(part.filter, 0, part.filterLength),
        filterShape: part.filterShape,
        out: new Float32Array(part.out, 0, part.count * part.itemOut),
        itemOut: part.itemOut,
        sliceBytes: part.sliceBytes,
      });
      signal(STATE.done);
    } catch (err) {
      port.postMessage(err instanceof Error ? err.message : String(err));
      signal(STATE.failed);
    }
  });
  signal(STATE.ready);
}

start().catch((err) => {
  port.postMessage(err instanceof Error ? err.message : String(err));
  signal(STATE.failed);
});
