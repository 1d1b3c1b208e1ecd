/**
 * The tfjs engine's worker thread: owns the backend and the compiled model, answers run requests one at a time.
 * TensorFlow.js computes synchronously on the calling thread (wasm) or holds it while the binding runs, so it lives
 * here rather than on the service's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { compileModel, type CompiledModel, type Tf } from './compile.js';
import { errorInfo, type RunRequest, type WorkerRequest, type WorkerResponse, type WorkerSetup } from './protocol.js';
import { unpackWeights } from './weight-pack.js';

if (parentPort === null) throw new Error('tfjs-worker must run in a worker thread');
const port = parentPort;

const post = (message: WorkerResponse, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

async function start(setup: WorkerSetup): Promise<void> {
  let tf: Tf;
  let model: CompiledModel;
  try {
    const backend = await initBackend(setup.threads);
    tf = backend.tf;
    model = compileModel(tf, setup.arch, unpackWeights(setup.weights));
    post({ type: 'ready', backend: backend.name, threads: backend.threads });
  } catch (error) {
    post({ type: 'init-failed', error: errorInfo(error) });
    return;
  }

  const [height, width, channels] = setup.arch.inputShape;
  const run = async ({ input, batch }: RunRequest): Promise<Float32Array> => {
    const image = tf.tensor4d(input, [batch, height, width, channels]);
    try {
      const probabilities = model.predict(image);
      try {
        const output = (await probabilities.data()) as Float32Array;
        // Only a whole, unshared buffer can be transferred back.
        const whole = output.buffer instanceof ArrayBuffer && output.byteLength === output.buffer.byteLength;
        return whole ? output : output.slice();
      } finally {
        probabilities.dispose();
      }
    } finally {
      image.dispose();
    }
  };

  // Runs are chained so one finishes before the next starts, even though each awaits its result.
  let queue = Promise.resolve();
  port.on('message', (request: WorkerRequest) => {
    queue = queue.then(async () => {
      try {
        const output = await run(request);
        post({ type: 'result', id: request.id, output }, [output.buffer as ArrayBuffer]);
      } catch (error) {
        post({ type: 'run-failed', id: request.id, error: errorInfo(error) });
      }
    });
  });
}

await start(workerData as WorkerSetup);
