/**
 * The tfjs engine's worker thread: owns the backend and the compiled model. TensorFlow.js computes synchronously on
 * the calling thread (wasm) or holds it while the binding runs, so it lives here rather than on the service's event
 * loop.
 */
import { workerData } from 'node:worker_threads';
import type { Architecture } from '../../model/architecture.js';
import { serveWorker } from '../serve-worker.js';
import { initBackend } from './backend.js';
import { compileModel } from './compile.js';
import { unpackWeights, type PackedWeights } from './weight-pack.js';

export interface TfjsWorkerData {
  readonly arch: Architecture;
  /** A copy of the engine's. */
  readonly weights: PackedWeights;
  /** Requested intra-op threads (the wasm backend may use fewer). */
  readonly threads: number;
}

const setup = workerData as TfjsWorkerData;

await serveWorker(async () => {
  const backend = await initBackend(setup.threads);
  const { tf } = backend;
  const model = compileModel(tf, setup.arch, unpackWeights(setup.weights));
  const [height, width, channels] = setup.arch.inputShape;
  return {
    backend: backend.name,
    threads: backend.threads,
    inputSize: height * width * channels,
    outputSize: setup.arch.classes,
    run: async (input, batch) => {
      const image = tf.tensor4d(input, [batch, height, width, channels]);
      try {
        const probabilities = model.predict(image);
        try {
          return (await probabilities.data()) as Float32Array;
        } finally {
          probabilities.dispose();
        }
      } finally {
        image.dispose();
      }
    },
    close: () => model.dispose(),
  };
});
