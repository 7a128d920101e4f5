import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { dirname } from 'path';

let pointed = false;

/**
 * Point the wasm backend at its binaries, which sit next to the package's main file: explicit, so
 * the backend works when this code is bundled or run from another working directory. Once per
 * thread (the main one and each convolution thread), before the backend initialises.
 */
export function pointWasmAtItsBinaries(): void {
  if (pointed) return;
  setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
  pointed = true;
}
