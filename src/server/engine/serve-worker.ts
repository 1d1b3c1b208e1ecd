/**
 * The worker-thread side of an engine, the same for every engine: starts the model, reports ready or failed, answers
 * runs one at a time in order, and on request releases the model and ends the thread. A run's images are gathered
 * from their shared slabs into one batch buffer kept for that batch size (runtimes refuse shared memory as input),
 * and the probabilities are scattered back into the slabs.
 */
import { parentPort } from 'node:worker_threads';
import { slabViews } from './tensor-slab.js';
import type { SlabRef, WorkerReply, WorkerRequest } from './worker-client.js';

export interface WorkerModel {
  /** In words, for EngineInfo.backend. */
  readonly backend: string;
  readonly threads: number;
  /** Floats in one input image and in one image's output. */
  readonly inputSize: number;
  readonly outputSize: number;
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  close(): Promise<void> | void;
}

export async function serveWorker(start: () => Promise<WorkerModel>): Promise<void> {
  if (parentPort === null) throw new Error('an engine worker must run in a worker thread');
  const port = parentPort;
  const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);
  let model: WorkerModel;
  try {
    model = await start();
  } catch (error) {
    post({ type: 'failed', message: errorMessage(error) });
    return;
  }
  post({ type: 'ready', backend: model.backend, threads: model.threads });

  const handle = async (request: WorkerRequest): Promise<void> => {
    if (request.type === 'close') {
      try {
        await model.close();
      } finally {
        // Ends this thread even where the backend's own threads would keep it alive.
        process.exit(0);
      }
    }
    try {
      const slabs = request.slabs.map(view);
      const batch = slabs.length;
      const input = batchInput(batch);
      slabs.forEach((slab, i) => input.set(slab.input, i * model.inputSize));
      const output = await model.run(input, batch);
      slabs.forEach((slab, i) => slab.output.set(output.subarray(i * model.outputSize, (i + 1) * model.outputSize)));
      post({ type: 'result', id: request.id });
    } catch (error) {
      post({ type: 'error', id: request.id, message: errorMessage(error) });
    }
  };
  const views = new Map<number, ReturnType<typeof slabViews>>();
  const view = ({ id, memory }: SlabRef): ReturnType<typeof slabViews> => {
    let slab = views.get(id);
    if (slab === undefined) {
      if (memory === undefined) throw new Error(`slab ${id} was never shared with this worker`);
      views.set(id, (slab = slabViews(memory, model.inputSize, model.outputSize)));
    }
    return slab;
  };
  const batchInputs = new Map<number, Float32Array>();
  const batchInput = (batch: number): Float32Array => {
    let input = batchInputs.get(batch);
    if (input === undefined) batchInputs.set(batch, (input = new Float32Array(batch * model.inputSize)));
    return input;
  };
  // Requests are chained so each run (and the close) starts after the one before has finished.
  let queue = Promise.resolve();
  port.on('message', (request: WorkerRequest) => {
    queue = queue.then(() => handle(request));
  });
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // tfjs-backend-wasm rejects its init with a bare { message } object.
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
