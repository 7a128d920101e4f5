/**
 * A compute child: runs the core on requests from its worker, one at a time. Tensor work lives
 * here so that a native crash, an out-of-memory abort or a SIGKILL ends only this process.
 */
import { backendSettings } from '../config';
import { initBackend } from '../core/backend';
import { computeProxies } from '../core/compute';
import { serializeError, type FromChild, type ToChild } from './protocol';

function send(msg: FromChild): void {
  process.send!(msg);
}

process.on('message', (msg: ToChild) => {
  if (msg.type !== 'run') return;
  // The backend settings reach the core as arguments; a bad ZC_BACKEND fails the job as an InputError.
  initBackend(backendSettings())
    .then(() => computeProxies(msg.req))
    .then(
      (result) => send({ type: 'result', id: msg.id, result }),
      (err: unknown) => send({ type: 'error', id: msg.id, error: serializeError(err) }),
    );
});

// The worker's death must end the child too (no orphan computing for nobody).
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });
